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
	start := func(ip string) { servers[ip] = startServe(t, gym, dir, net.JoinHostPort(ip, port), tokenFile) }
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

// TestPythonPoolProbesAStoppedReplica: the Python Pool's env on a `gym
// serve` that is SIGSTOPped mid-episode (the kernel accepts and
// acknowledges, nothing answers) gets TIMEOUT after an unanswered health
// probe, not after its 600 s step timeout, and its next reset moves it to
// the live replica, where it steps OK.
func TestPythonPoolProbesAStoppedReplica(t *testing.T) {
	tmp := t.TempDir()
	gym, dir := gymWithPlugins(t, tmp, "text")
	tokenFile := filepath.Join(tmp, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	servers := map[string]*exec.Cmd{}
	for _, ip := range []string{"127.0.0.11", "127.0.0.12"} {
		addr := net.JoinHostPort(ip, port)
		servers[addr] = startServe(t, gym, dir, addr, tokenFile)
	}
	py := exec.Command("/usr/bin/python3", "tests/pool_stall.py", net.JoinHostPort("127.0.0.11", port)+","+net.JoinHostPort("127.0.0.12", port), "s3cret")
	stdin, _ := py.StdinPipe()
	stdout, _ := py.StdoutPipe()
	var perr strings.Builder
	py.Stderr = &perr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer py.Process.Kill()
	// The test's own deadline: without the probe the step would wait 600 s.
	timer := time.AfterFunc(2*time.Minute, func() { py.Process.Kill() })
	defer timer.Stop()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	if !lines.Scan() {
		py.Wait()
		t.Fatalf("python: no stop line\n%s", perr.String())
	}
	var stop struct {
		Replica string `json:"replica"`
	}
	if err := json.Unmarshal(lines.Bytes(), &stop); err != nil || servers[stop.Replica] == nil {
		t.Fatalf("python: %s (%v)", lines.Text(), err)
	}
	servers[stop.Replica].Process.Signal(syscall.SIGSTOP)
	// SIGSTOP lands when each thread next enters the kernel: wait until
	// every thread is stopped, or the step may be answered just before.
	waitStopped(t, servers[stop.Replica].Process.Pid)
	fmt.Fprintln(stdin, "go")
	if !lines.Scan() {
		py.Wait()
		t.Fatalf("python: no summary (killed at the test's deadline?)\n%s", perr.String())
	}
	var got struct {
		Status, Text, Replica, Stopped, MovedTo, Other, StatusAfter string
		Truncated                                                   bool
		WaitedS                                                     float64 `json:"waited_s"`
	}
	dec := json.NewDecoder(strings.NewReader(lines.Text()))
	if err := dec.Decode(&struct {
		Status      *string  `json:"status"`
		Text        *string  `json:"text"`
		Replica     *string  `json:"replica"`
		Stopped     *string  `json:"stopped"`
		MovedTo     *string  `json:"moved_to"`
		Other       *string  `json:"other"`
		StatusAfter *string  `json:"status_after"`
		Truncated   *bool    `json:"truncated"`
		WaitedS     *float64 `json:"waited_s"`
	}{&got.Status, &got.Text, &got.Replica, &got.Stopped, &got.MovedTo, &got.Other, &got.StatusAfter, &got.Truncated, &got.WaitedS}); err != nil {
		t.Fatal(err)
	}
	if err := py.Wait(); err != nil {
		t.Fatalf("python: %v\n%s", err, perr.String())
	}
	if got.Status != "TIMEOUT" || !got.Truncated || !strings.Contains(got.Text, "stopped answering") || got.Replica != stop.Replica {
		t.Errorf("step on the stopped replica: %+v; want TIMEOUT, truncated, naming the probe and %s", got, stop.Replica)
	}
	if got.MovedTo == stop.Replica || got.MovedTo != got.Other || got.StatusAfter != "OK" {
		t.Errorf("after the stop the env is on %s (stopped %s, live %s), next step %s; want the live replica and OK", got.MovedTo, stop.Replica, got.Other, got.StatusAfter)
	}
	t.Logf("the stopped replica's step ended after %.2f s: %s", got.WaitedS, got.Text)
}

// waitStopped waits until every thread of pid is in the stopped state.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// The state follows the command name's closing parenthesis.
			if i := strings.LastIndexByte(string(b), ')'); err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped after SIGSTOP", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startServe runs `gym serve` with its stream on addr and the token in
// tokenFile until the test ends (SIGCONT first: a test may have stopped
// it), and waits until it serves.
func startServe(t *testing.T, gym, pluginDir, addr, tokenFile string) *exec.Cmd {
	t.Helper()
	ip, _, _ := net.SplitHostPort(addr)
	cmd := exec.Command(gym, "--plugin-dir", pluginDir, "serve", "--http", ip+":0", "--stream", addr, "--token-file", tokenFile, "--drain", "1s")
	var serr strings.Builder
	cmd.Stderr = &serr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
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
			t.Fatalf("gym serve on %s not up:\n%s", addr, serr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd
}
