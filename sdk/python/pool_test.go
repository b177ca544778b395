package python_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/internal/dnstest"
)

// TestPythonPoolSurvivesAReplica runs three real `gym serve` replicas on
// one port of 127.0.0.1-3, names them in a DNS server, and plays a
// VectorEnv of the Python Pool over them while one replica is killed
// (SIGKILL) and a replacement comes up on a new IP: the envs are spread
// over the three, only the killed replica's steps are CRASHED, every step
// and episode is counted per replica, and the replacement is used.
func TestPythonPoolSurvivesAReplica(t *testing.T) {
	tmp := t.TempDir()
	gym, dir := gymWithPlugins(t, tmp, "text")
	tokenFile := filepath.Join(tmp, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	servers := map[string]*exec.Cmd{}
	start := func(ip string) {
		t.Helper()
		cmd := exec.Command(gym, "--plugin-dir", dir, "serve", "--http", ip+":0", "--stream", net.JoinHostPort(ip, port), "--token-file", tokenFile, "--drain", "1s")
		var serr strings.Builder
		cmd.Stderr = &serr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		servers[ip] = cmd
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
			}
		})
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(serr.String(), "env ids from") {
			if time.Now().After(deadline) {
				t.Fatalf("gym serve on %s not up:\n%s", ip, serr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		start(ip)
	}
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.Set("replicas.envgym.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")

	py := exec.Command("/usr/bin/python3", "tests/pool_episode.py", dns.Addr(), "replicas.envgym.test:"+port, "s3cret")
	stdin, _ := py.StdinPipe()
	stdout, _ := py.StdoutPipe()
	var perr strings.Builder
	py.Stderr = &perr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer py.Process.Kill()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func(want string) string {
		t.Helper()
		if !lines.Scan() {
			py.Wait()
			t.Fatalf("python pool: no %s line: %v\n%s", want, lines.Err(), perr.String())
		}
		if want != "" && !strings.Contains(lines.Text(), want) {
			t.Fatalf("python pool: %s, want %s\n%s", lines.Text(), want, perr.String())
		}
		return lines.Text()
	}
	next(`"kill"`)
	servers["127.0.0.2"].Process.Signal(syscall.SIGKILL)
	servers["127.0.0.2"].Wait()
	dns.Set("replicas.envgym.test", "127.0.0.1", "127.0.0.3")
	fmt.Fprintln(stdin, "go")
	next(`"replace"`)
	start("127.0.0.4")
	dns.Set("replicas.envgym.test", "127.0.0.1", "127.0.0.3", "127.0.0.4")
	fmt.Fprintln(stdin, "go")
	var got struct {
		ReplicasAtStart []string       `json:"replicas_at_start"`
		Spread          []int          `json:"spread"`
		Ended           map[string]int `json:"ended"`
		CrashedOn       map[string]int `json:"crashed_on"`
		Steps           int            `json:"steps"`
		ReplicasAtEnd   []string       `json:"replicas_at_end"`
		Stats           []struct {
			Addr      string         `json:"addr"`
			Envs      int            `json:"envs"`
			LiveEnvs  int            `json:"live_envs"`
			Episodes  int            `json:"episodes"`
			Steps     int            `json:"steps"`
			StepsPerS float64        `json:"steps_per_s"`
			Failures  map[string]int `json:"failures"`
			Resolved  bool           `json:"resolved"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(next("")), &got); err != nil {
		t.Fatal(err)
	}
	if err := py.Wait(); err != nil {
		t.Fatalf("python pool: %v\n%s", err, perr.String())
	}
	killed, replacement := net.JoinHostPort("127.0.0.2", port), net.JoinHostPort("127.0.0.4", port)
	if len(got.ReplicasAtStart) != 3 || fmt.Sprint(got.Spread) != "[2 2 2]" {
		t.Errorf("start: replicas %v, envs per replica %v; want 3 replicas with 2 envs each", got.ReplicasAtStart, got.Spread)
	}
	if got.CrashedOn[killed] == 0 || len(got.CrashedOn) != 1 || got.Ended["CRASHED"] != got.CrashedOn[killed] {
		t.Errorf("crashed episodes %v (ended %v): want some, all on %s", got.CrashedOn, got.Ended, killed)
	}
	ended, episodes, steps := 0, 0, 0
	for _, n := range got.Ended {
		ended += n
	}
	for _, s := range got.Stats {
		episodes += s.Episodes
		steps += s.Steps
		if s.LiveEnvs != 0 {
			t.Errorf("%s: %d envs left open after close", s.Addr, s.LiveEnvs)
		}
		switch s.Addr {
		case killed:
			if s.Resolved || s.Failures["CRASHED"] != got.CrashedOn[killed] {
				t.Errorf("killed replica: %+v", s)
			}
		case replacement:
			if s.Episodes == 0 || !s.Resolved {
				t.Errorf("the replacement replica was not used: %+v", s)
			}
		}
		if s.Steps > 0 && s.StepsPerS <= 0 {
			t.Errorf("%s: steps_per_s %v", s.Addr, s.StepsPerS)
		}
	}
	// Every env resets once at the start and once after each episode.
	if episodes != 6+ended || steps != got.Steps {
		t.Errorf("per-replica totals: %d episodes, %d steps; played %d (+6 first resets), %d steps", episodes, steps, ended, got.Steps)
	}
	t.Logf("episodes ended %v, per replica %+v", got.Ended, got.Stats)
}
