package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/internal/dnstest"
)

// startReplicas runs one `gym serve` per loopback IP, all on one stream
// port (as the replicas of a service share a port on their own IPs), with
// token "tok" and the oracle op on; they are interrupted and waited for at cleanup.
func startReplicas(t *testing.T, ips ...string) (port int, procs map[string]*exec.Cmd) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	procs = map[string]*exec.Cmd{}
	for _, ip := range ips {
		cmd := exec.Command(filepath.Join(binDir, "gym"), "--plugin-dir", pluginDir, "serve",
			"--stream", net.JoinHostPort(ip, strconv.Itoa(port)), "--http", ip+":0", "--token-file", tokenFile, "--drain", "1s", "--oracle")
		cmd.Env = append(os.Environ(), "GYM_PLUGIN_DIR=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[ip] = cmd
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), "env ids from") {
			select {
			case <-done:
				t.Fatalf("gym serve on %s exited:\n%s", ip, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("gym serve on %s not up after 30s:\n%s", ip, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return port, procs
}

// TestRunRemoteSpreadsEnvsOverDNSReplicas: `gym run --remote NAME:PORT
// --envs 6` finds three real gym serve replicas through a DNS server,
// puts two envs on each, and its per-replica figures and manifests account
// for every episode and step.
func TestRunRemoteSpreadsEnvsOverDNSReplicas(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	port, _ := startReplicas(t, ips...)
	dns.Set("replicas.envgym.test", ips...)
	t.Setenv("GYM_SERVE_TOKEN", "tok")
	out := filepath.Join(t.TempDir(), "remote.jsonl")
	r := mustGym(t, "run", "text/maze-v0", "--policy", "random", "--episodes", "24", "--envs", "6",
		"--remote", fmt.Sprintf("replicas.envgym.test:%d", port), "--dns", dns.Addr(), "--json", "--out", out)
	s := decode[runSummary](t, r.stdout)
	if s.Episodes != 24 || s.Envs != 6 || len(s.Replicas) != 3 {
		t.Fatalf("summary: %+v", s)
	}
	var addrs []string
	eps, steps := 0, int64(0)
	for _, rep := range s.Replicas {
		addrs = append(addrs, rep.Addr)
		if rep.Envs != 2 || !rep.Resolved || rep.LiveEnvs != 0 {
			t.Errorf("replica %+v: want 2 envs made, resolved, none left open", rep)
		}
		eps += rep.Episodes
		steps += rep.Steps
	}
	total := 0
	for _, n := range s.StatusCounts {
		total += n
	}
	if eps != 24 || steps != int64(total) {
		t.Errorf("replicas add up to %d episodes, %d steps; the run played 24, %d", eps, steps, total)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(out))
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[int64]bool{}
	per := map[string]int{}
	for _, m := range ms {
		if !slices.Contains(addrs, m.Replica) {
			t.Errorf("manifest replica %q, not one of %v", m.Replica, addrs)
		}
		per[m.Replica]++
		seeds[m.Seed] = true
	}
	if len(ms) != 24 || len(seeds) != 24 {
		t.Fatalf("%d manifests with %d distinct seeds, want 24", len(ms), len(seeds))
	}
	for _, rep := range s.Replicas {
		if per[rep.Addr] != rep.Episodes {
			t.Errorf("%s: %d episodes in the summary, %d manifests", rep.Addr, rep.Episodes, per[rep.Addr])
		}
	}
	table := mustGym(t, "run", "text/maze-v0", "--policy", "random", "--episodes", "3", "--envs", "3",
		"--remote", fmt.Sprintf("replicas.envgym.test:%d", port), "--dns", dns.Addr()).stdout
	for _, ip := range ips {
		if !strings.Contains(table, fmt.Sprintf("%s:%d", ip, port)) {
			t.Errorf("the replica table lacks %s:\n%s", ip, table)
		}
	}

	// The oracle through the pool (gym serve --oracle) solves every task.
	o := decode[runSummary](t, mustGym(t, "run", "text/maze-v0", "--policy", "oracle", "--episodes", "6", "--envs", "3",
		"--remote", fmt.Sprintf("replicas.envgym.test:%d", port), "--dns", dns.Addr(), "--json").stdout)
	if o.SuccessRate != 1 || o.Episodes != 6 {
		t.Errorf("oracle over the pool: %+v", o)
	}

	// gym bench serve --remote: every replica steps, the parts add up.
	b := decode[benchRemoteResult](t, mustGym(t, "bench", "serve", "--remote", fmt.Sprintf("replicas.envgym.test:%d", port),
		"--dns", dns.Addr(), "--env", "text/maze-v0", "--envs", "3", "--duration", "300ms", "--json").stdout)
	sum := 0
	for _, r := range b.Replicas {
		if r.Steps == 0 || r.Envs != 1 || r.P99US < r.P50US {
			t.Errorf("bench replica %+v", r)
		}
		sum += r.Steps
	}
	if len(b.Replicas) != 3 || sum != b.Steps || b.Steps == 0 || b.StepsPerS <= 0 {
		t.Errorf("bench over the pool: %+v", b)
	}
}

// TestRunRemoteReplicaKilledMidRun: a replica SIGKILLed while `gym run
// --remote --envs 6` plays costs only its episodes in flight (CRASHED,
// counted as infrastructure failures); the run finishes every episode on
// the other replicas, and the summary and manifests account for all.
func TestRunRemoteReplicaKilledMidRun(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	port, procs := startReplicas(t, ips...)
	dns.Set("replicas.envgym.test", ips...)
	out := filepath.Join(t.TempDir(), "kill.jsonl")
	cmd := exec.Command(filepath.Join(binDir, "gym"), "--plugin-dir", pluginDir, "run", "text/maze-v0", "--policy", "random",
		"--episodes", "300", "--envs", "6", "--remote", fmt.Sprintf("replicas.envgym.test:%d", port), "--dns", dns.Addr(), "--json", "--out", out)
	cmd.Env = append(os.Environ(), "GYM_PLUGIN_DIR=", "GYM_SERVE_TOKEN=tok")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill replica 2 once some episodes are on disk.
	manifests := trajectory.ManifestPath(out)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(manifests)
		if strings.Count(string(b), "\n") >= 20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no 20 episodes after 30s:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	procs["127.0.0.2"].Process.Signal(syscall.SIGKILL)
	dns.Set("replicas.envgym.test", "127.0.0.1", "127.0.0.3")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gym run: %v\n%s", err, stderr.String())
	}
	s := decode[runSummary](t, stdout.String())
	killed := fmt.Sprintf("127.0.0.2:%d", port)
	var crashed, episodes int
	for _, r := range s.Replicas {
		episodes += r.Episodes
		if r.Addr == killed {
			crashed = r.Failures["CRASHED"]
			if r.Resolved {
				t.Errorf("the killed replica is still resolved: %+v", r)
			}
		} else if r.Failures["CRASHED"] != 0 {
			t.Errorf("a live replica crashed steps: %+v", r)
		}
	}
	if s.Episodes != 300 || episodes != 300 || crashed == 0 || s.InfraFailures != crashed || s.StatusCounts["CRASHED"] != crashed {
		t.Fatalf("summary after the kill: %+v (killed replica CRASHED %d)", s, crashed)
	}
	ms, err := trajectory.ReadManifests(manifests)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := 0
	for _, m := range ms {
		if m.FinalStatus == gym.StatusCrashed {
			onDisk++
			if m.Replica != killed {
				t.Errorf("a CRASHED episode on %s", m.Replica)
			}
		}
	}
	if len(ms) != 300 || onDisk != crashed {
		t.Errorf("%d manifests, %d CRASHED; want 300, %d", len(ms), onDisk, crashed)
	}
	t.Logf("300 episodes, %d CRASHED by the kill, replicas %+v", crashed, s.Replicas)
}

// TestRunEnvsLocalMatchesOneEnv: --envs without --remote plays local
// plugin envs at once, and the episodes (seed+i, task i%len) are the same
// as with one env.
func TestRunEnvsLocalMatchesOneEnv(t *testing.T) {
	args := []string{"run", "text/corridor-v0", "--policy", "random", "--episodes", "9", "--seed", "4", "--json"}
	one := decode[runSummary](t, mustGym(t, args...).stdout)
	out := filepath.Join(t.TempDir(), "local.jsonl")
	three := decode[runSummary](t, mustGym(t, append(args, "--envs", "3", "--out", out)...).stdout)
	if three.Envs != 3 || three.Replicas != nil {
		t.Fatalf("--envs 3 summary: %+v", three)
	}
	one.Envs, one.Out = 3, out
	if fmt.Sprint(one) != fmt.Sprint(three) {
		t.Errorf("--envs 3 played other episodes:\n one env %+v\n3 envs %+v", one, three)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(out))
	if err != nil {
		t.Fatal(err)
	}
	var seeds []int64
	for _, m := range ms {
		seeds = append(seeds, m.Seed)
		if m.Replica != "" {
			t.Errorf("a local episode names replica %q", m.Replica)
		}
	}
	slices.Sort(seeds)
	if !slices.Equal(seeds, []int64{4, 5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Errorf("seeds %v, want 4..12", seeds)
	}
	for _, bad := range [][]string{{"--envs", "0"}, {"--envs", "2", "--policy", "human"}, {"--dns", "127.0.0.11:53"}} {
		r := runGym(t, "", append([]string{"run", "text/corridor-v0"}, bad...)...)
		if r.code == 0 || !strings.Contains(r.stderr, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s", bad, r.code, r.stderr, bad[0])
		}
	}
}
