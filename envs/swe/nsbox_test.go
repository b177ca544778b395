package swe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestBackend(t *testing.T) *Namespace {
	t.Helper()
	b, err := NewNamespace(NamespaceConfig{Dir: sandboxTestDir(t), GoCache: sharedTestGoCache(t)})
	if err != nil {
		t.Fatalf("namespace backend unavailable (the SWE env needs root and cgroup v1): %v", err)
	}
	return b
}

// sandboxTestDir is a temp dir the sandbox's nobody can traverse
// (t.TempDir's parent is private to root).
func sandboxTestDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "envgym-swe-test-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// sharedTestGoCache keeps one build cache across test runs, so the suite
// stays fast.
func sharedTestGoCache(t *testing.T) string {
	t.Helper()
	return filepath.Join(os.TempDir(), "envgym-swe-test-gocache")
}

func startSandbox(t *testing.T) Sandbox {
	t.Helper()
	b := newTestBackend(t)
	s, err := b.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func run(t *testing.T, s Sandbox, cmd string, timeout time.Duration) ExecResult {
	t.Helper()
	res, err := s.Exec(context.Background(), cmd, ExecOptions{Timeout: timeout})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return res
}

func TestNamespaceIsolation(t *testing.T) {
	s := startSandbox(t)
	t.Run("workspace writable", func(t *testing.T) {
		res := run(t, s, "echo hi > a.txt && cat a.txt && id -u", 10*time.Second)
		if res.ExitCode != 0 || !strings.HasPrefix(string(res.Output), "hi\n0") {
			t.Fatalf("exit %d: %s", res.ExitCode, res.Output)
		}
	})
	t.Run("writes outside fail", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "x")
		for _, p := range []string{"/tmp/envgym-swe-escape", "/dev/shm/envgym-swe-escape", "/etc/envgym-swe-escape", "/var/tmp/envgym-swe-escape", outside} {
			res := run(t, s, "echo x > "+p, 10*time.Second)
			if res.ExitCode == 0 {
				t.Errorf("writing %s succeeded", p)
			}
			if _, err := os.Stat(p); err == nil {
				os.Remove(p)
				t.Errorf("%s exists on the host", p)
			}
		}
		res := run(t, s, "echo 0 > /sys/fs/cgroup/pids/cgroup.procs", 10*time.Second)
		if res.ExitCode == 0 {
			t.Errorf("leaving the cgroup succeeded")
		}
	})
	t.Run("no network", func(t *testing.T) {
		// Look at interfaces and routes only; send no traffic anywhere.
		res := run(t, s, "cat /proc/net/dev; echo ROUTES; cat /proc/net/route; cat /proc/net/ipv6_route 2>/dev/null", 10*time.Second)
		out := string(res.Output)
		dev, routes, _ := strings.Cut(out, "ROUTES")
		for _, line := range strings.Split(dev, "\n")[2:] {
			name, _, _ := strings.Cut(strings.TrimSpace(line), ":")
			if name != "" && name != "lo" {
				t.Errorf("interface %q visible in the sandbox", name)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(routes), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 0 && f[len(f)-1] != "lo" && f[0] != "lo" {
				t.Errorf("route in the sandbox: %s", line)
			}
		}
	})
	t.Run("fork bomb contained", func(t *testing.T) {
		res := run(t, s, "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", 20*time.Second)
		t.Logf("fork bomb: exit %d timedOut %v in %v", res.ExitCode, res.TimedOut, res.Duration)
		// The host still forks.
		if out := run(t, s, "echo ok", 10*time.Second); !strings.Contains(string(out.Output), "ok") {
			t.Fatalf("sandbox unusable after a fork bomb: %s", out.Output)
		}
	})
	t.Run("timeout kills", func(t *testing.T) {
		start := time.Now()
		res := run(t, s, "sleep 1000 & while :; do :; done", time.Second)
		if !res.TimedOut || time.Since(start) > 5*time.Second {
			t.Fatalf("timedOut=%v after %v", res.TimedOut, time.Since(start))
		}
	})
}

func BenchmarkNamespaceExec(b *testing.B) {
	be, err := NewNamespace(NamespaceConfig{Dir: sandboxTestDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := be.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := s.Exec(context.Background(), "true", ExecOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
