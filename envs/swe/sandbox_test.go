package swe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// limits are small sandbox limits for containment tests.
type limits struct{ MemoryMB, MaxPids, DiskMB int }

// backendCase makes one backend for tests.
type backendCase struct {
	name string
	make func(t *testing.T, lim limits) Backend
}

// testBackends are the sandbox backends every behaviour test runs on.
// Both must be available: a machine without root, cgroup v1 or a running
// dockerd fails these tests rather than skipping them.
func testBackends() []backendCase {
	return []backendCase{
		{"namespace", func(t *testing.T, lim limits) Backend {
			t.Helper()
			b, err := NewNamespace(NamespaceConfig{Dir: sandboxTestDir(t), GoCache: sharedTestGoCache(t), MemoryMB: lim.MemoryMB, MaxPids: lim.MaxPids, DiskMB: lim.DiskMB})
			if err != nil {
				t.Fatalf("namespace backend unavailable (the SWE env needs root and cgroup v1): %v", err)
			}
			return b
		}},
		{"docker", func(t *testing.T, lim limits) Backend {
			t.Helper()
			return newDockerTestBackend(t, DockerConfig{MemoryMB: lim.MemoryMB, MaxPids: lim.MaxPids, DiskMB: lim.DiskMB})
		}},
	}
}

// newDockerTestBackend connects to the local dockerd; on Cleanup it
// closes the backend and checks that none of its containers survive.
func newDockerTestBackend(t *testing.T, cfg DockerConfig) *Docker {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = sandboxTestDir(t)
	}
	if cfg.GoCache == "" {
		cfg.GoCache = sharedTestGoCache(t)
	}
	d, err := NewDocker(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Docker backend unavailable: %v\n(the SWE env's Docker tests need a running dockerd: run scripts/setup.sh)", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close docker backend: %v", err)
		}
		assertNoContainers(t, d.Owner())
	})
	return d
}

// assertNoContainers fails when a container labelled with owner exists.
func assertNoContainers(t *testing.T, owner string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+labelOwner+"="+owner).CombinedOutput()
	if err != nil {
		t.Fatalf("docker ps: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("containers left behind: %s", strings.ReplaceAll(s, "\n", " "))
	}
}

func startIn(t *testing.T, b Backend) Sandbox {
	t.Helper()
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

func mustWork(t *testing.T, s Sandbox, after string) {
	t.Helper()
	if out := run(t, s, "echo ok", 20*time.Second); out.ExitCode != 0 || !strings.Contains(string(out.Output), "ok") {
		t.Fatalf("sandbox unusable after %s: exit %d %s", after, out.ExitCode, out.Output)
	}
	if err := exec.Command("true").Run(); err != nil {
		t.Fatalf("the host cannot fork after %s: %v", after, err)
	}
}

func TestSandboxIsolation(t *testing.T) {
	for _, bc := range testBackends() {
		t.Run(bc.name, func(t *testing.T) {
			const diskMB = 64
			b := bc.make(t, limits{MemoryMB: 256, MaxPids: 128, DiskMB: diskMB})
			s := startIn(t, b)
			t.Run("workspace writable", func(t *testing.T) {
				res := run(t, s, "echo hi > a.txt && cat a.txt", 10*time.Second)
				if res.ExitCode != 0 || string(res.Output) != "hi\n" {
					t.Fatalf("exit %d: %s", res.ExitCode, res.Output)
				}
				if b, err := os.ReadFile(filepath.Join(s.Workspace(), "a.txt")); err != nil || string(b) != "hi\n" {
					t.Fatalf("workspace file on the host: %q %v", b, err)
				}
			})
			t.Run("writes outside fail", func(t *testing.T) {
				outside := filepath.Join(t.TempDir(), "x")
				for _, p := range []string{"/etc/envgym-swe-escape", "/usr/local/go/envgym-swe-escape", "/envgym-swe-escape", "/usr/bin/envgym-swe-escape", outside} {
					if res := run(t, s, "echo x > "+p, 10*time.Second); res.ExitCode == 0 {
						t.Errorf("writing %s succeeded", p)
					}
				}
				// Scratch dirs may be writable inside (Docker's /tmp is
				// the container's tmpfs) but nothing reaches the host.
				for _, p := range []string{"/tmp/envgym-swe-escape", "/dev/shm/envgym-swe-escape", "/var/tmp/envgym-swe-escape", "/etc/envgym-swe-escape", outside} {
					run(t, s, "echo x > "+p, 10*time.Second)
					if _, err := os.Stat(p); err == nil {
						os.Remove(p)
						t.Errorf("%s exists on the host", p)
					}
				}
				if res := run(t, s, "echo 0 > /sys/fs/cgroup/pids/cgroup.procs", 10*time.Second); res.ExitCode == 0 {
					t.Errorf("leaving the cgroup succeeded")
				}
			})
			t.Run("host files out of reach", func(t *testing.T) {
				// World-readable files the host's nobody could read: in a
				// world-readable dir under the host's /tmp, in root's home,
				// and this checkout's own go.mod; and the Docker socket.
				dir, err := os.MkdirTemp("", "envgym-swe-secret-")
				if err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(dir)
				os.Chmod(dir, 0o755)
				secrets := []string{filepath.Join(dir, "secret")}
				if home, err := os.UserHomeDir(); err == nil {
					secrets = append(secrets, filepath.Join(home, filepath.Base(dir)+"-secret"))
				}
				for _, p := range secrets {
					if err := os.WriteFile(p, []byte("host secret\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					defer os.Remove(p)
				}
				if mod, err := filepath.Abs("../../go.mod"); err == nil {
					secrets = append(secrets, mod)
				}
				for _, p := range append(secrets, "/var/run/docker.sock", "/run/docker.sock") {
					res := run(t, s, "cat "+p+" || test -e "+p, 10*time.Second)
					if res.ExitCode == 0 {
						t.Errorf("the sandbox reaches the host's %s: %s", p, res.Output)
					}
				}
				if res := run(t, s, "ls / && test -x /bin/sh && go version", 20*time.Second); res.ExitCode != 0 {
					t.Errorf("the system dirs and the toolchain must stay visible: exit %d: %s", res.ExitCode, res.Output)
				}
			})
			t.Run("no network", func(t *testing.T) {
				// Look at interfaces and routes only; send no traffic anywhere.
				res := run(t, s, "cat /proc/net/dev; echo ROUTES; cat /proc/net/route; cat /proc/net/ipv6_route 2>/dev/null", 10*time.Second)
				dev, routes, _ := strings.Cut(string(res.Output), "ROUTES")
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
				mustWork(t, s, "a fork bomb")
			})
			t.Run("memory bomb killed", func(t *testing.T) {
				// tail keeps a line that never ends: it grows until the
				// memory limit kills it, which fails the command.
				res := run(t, s, "head -c 3000000000 /dev/zero | tail -n 1 > /dev/null", 60*time.Second)
				t.Logf("memory bomb: exit %d timedOut %v in %v: %s", res.ExitCode, res.TimedOut, res.Duration, res.Output)
				if res.ExitCode == 0 || res.TimedOut {
					t.Errorf("memory bomb: exit %d timedOut %v, want killed by the memory limit", res.ExitCode, res.TimedOut)
				}
				mustWork(t, s, "a memory bomb")
			})
			t.Run("disk filler stopped", func(t *testing.T) {
				testDiskFiller(t, b, s, diskMB)
			})
			t.Run("timeout kills", func(t *testing.T) {
				start := time.Now()
				res := run(t, s, "sleep 1000 & while :; do :; done", time.Second)
				if !res.TimedOut || time.Since(start) > 10*time.Second {
					t.Fatalf("timedOut=%v after %v", res.TimedOut, time.Since(start))
				}
				t.Logf("timeout handled in %v", time.Since(start))
				mustWork(t, s, "a timeout")
				if res := run(t, s, "ps -eo args= | grep -c '^sleep 1000$'", 10*time.Second); strings.TrimSpace(string(res.Output)) != "0" {
					t.Errorf("processes outlived their command:\n%s", run(t, s, "ps -ef", 10*time.Second).Output)
				}
			})
		})
	}
}

// testDiskFiller writes 200 MB into each writable place (workspace,
// TMPDIR, the build cache): each write must stop at the episode's disk
// limit with ENOSPC, the bytes must live in the episode's tmpfs, never
// in the shared cache, and the host and the sandbox must work on.
func testDiskFiller(t *testing.T, b Backend, s Sandbox, diskMB int) {
	t.Helper()
	res := run(t, s, `for d in . "$TMPDIR" "$GOCACHE"; do head -c 209715200 /dev/zero > "$d/fill" && echo "WROTE ALL $d"; done; df -k . | tail -n 1`, 60*time.Second)
	out := string(res.Output)
	t.Logf("disk filler: exit %d in %v:\n%s", res.ExitCode, res.Duration, out)
	if strings.Contains(out, "WROTE ALL") {
		t.Errorf("a 200 MB write went through a %d MB limit", diskMB)
	}
	if n := strings.Count(out, "No space left on device"); n != 3 {
		t.Errorf("%d writes failed with ENOSPC, want 3", n)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.Workspace(), &st); err != nil {
		t.Fatal(err)
	}
	const tmpfsMagic = 0x01021994
	total, free := st.Blocks*uint64(st.Bsize), st.Bfree*uint64(st.Bsize)
	if st.Type != tmpfsMagic || total > uint64(diskMB)<<20 || free > 1<<20 {
		t.Errorf("workspace fs: type %#x, %d bytes, %d free; want a full tmpfs of %d MB", st.Type, total, free, diskMB)
	}
	var shared string
	switch b := b.(type) {
	case *Namespace:
		shared = b.cache.dir
	case *Docker:
		shared = b.cache.dir
	}
	if _, err := os.Stat(filepath.Join(shared, "fill")); err == nil {
		t.Errorf("the filler reached the shared build cache %s", shared)
	}
	host := filepath.Join(t.TempDir(), "host-write")
	if err := os.WriteFile(host, make([]byte, 1<<20), 0o644); err != nil {
		t.Errorf("the host cannot write after a disk filler: %v", err)
	}
	run(t, s, `rm -f fill "$TMPDIR/fill" "$GOCACHE/fill"`, 20*time.Second)
	if res := run(t, s, "echo after > f && cat f && rm f", 20*time.Second); strings.TrimSpace(string(res.Output)) != "after" {
		t.Errorf("the workspace is unusable after the filler was removed: %s", res.Output)
	}
	mustWork(t, s, "a disk filler")
}
