package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

// Isolation tests: from inside the plugin sandbox, try to reach the
// network, exhaust processes and memory, and run a tampered binary. Each
// attack must be contained, the host must survive it, and the next reset
// must work in a fresh process. Tampering with the binary on disk before a
// start is TestCorruptBinaryRefused; the network probe of a plain plugin is
// TestSandboxNetwork.
// Reading and writing the host's files is TestIsolationHostFiles.

// cgroupDir is the cgroup v1 directory of pid for controller.
func cgroupDir(t *testing.T, pid int, controller string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && f[1] == controller {
			return filepath.Join("/sys/fs/cgroup", controller, f[2])
		}
	}
	t.Fatalf("process %d is in no %s cgroup:\n%s", pid, controller, b)
	return ""
}

// requireCgroups skips when the host cannot enforce cgroup limits: the
// bombs would then hit the machine instead of the sandbox.
func requireCgroups(t *testing.T, h *Host) {
	t.Helper()
	if lim := h.Plugins()[0].Limits(); !lim.Cgroups {
		t.Skipf("cgroup limits not enforced here (%s); bombs are not run without them", lim.CgroupError)
	}
}

func TestIsolationNoNetworkEgress(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := step(t, env, "netns", 5*time.Second).Observation.Text; got == "netns "+hostNS || !strings.HasPrefix(got, "netns net:[") {
		t.Fatalf("plugin without network: %q, want a network namespace other than the host's %s", got, hostNS)
	}
	if got := step(t, env, "net", 5*time.Second).Observation.Text; got != "up=lo route=no loopback=yes" {
		t.Fatalf("interfaces and IPv4 routes seen by the plugin: %q, want only loopback", got)
	}
	// IPv6: every route the plugin's namespace has must be on lo. (Only
	// the routing table is read; no packet is sent anywhere.)
	got := step(t, env, "readfile /proc/net/ipv6_route", 5*time.Second).Observation.Text
	if strings.HasPrefix(got, "readfile ok: ") {
		for _, line := range strings.Split(strings.TrimPrefix(got, "readfile ok: "), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] != "lo" {
				t.Errorf("IPv6 route off loopback inside the sandbox: %q", line)
			}
		}
	}

	// The manifest's network flag is what grants the host's namespace.
	hn := newHost(t, Config{}, Sandbox{Network: true}, "faulty")
	envN := mustMake(t, hn, "test/faulty-v0")
	mustReset(t, envN)
	if got := step(t, envN, "netns", 5*time.Second).Observation.Text; got != "netns "+hostNS {
		t.Fatalf("plugin with network: %q, want the host's namespace %s", got, hostNS)
	}
}

func TestIsolationForkBombContained(t *testing.T) {
	const maxPids = 32
	h := newHost(t, Config{PingTimeout: 500 * time.Millisecond}, Sandbox{MaxPids: maxPids}, "faulty")
	requireCgroups(t, h)
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	pidsDir := cgroupDir(t, pid, "pids")

	r := step(t, env, "forkbomb", 30*time.Second)
	switch {
	case r.Status == gym.StatusOK:
		// The plugin survived its bomb: the kernel refused a process at
		// the limit, and the tree never exceeded it.
		txt := r.Observation.Text
		if !strings.Contains(txt, "resource temporarily unavailable") {
			t.Fatalf("fork bomb not refused by the kernel: %q", txt)
		}
		var spawned, cur, max int
		if _, err := fmt.Sscanf(txt[strings.LastIndex(txt, "pids.current="):], "pids.current=%d pids.max=%d", &cur, &max); err != nil || cur > maxPids || max != maxPids {
			t.Fatalf("pids.current/max in %q (%v), want at most %d", txt, err, maxPids)
		}
		fmt.Sscanf(txt, "forkbomb: spawned %d", &spawned)
		if spawned >= maxPids {
			t.Fatalf("spawned %d processes under pids.max %d", spawned, maxPids)
		}
		t.Logf("%s", txt)
	case r.Status.Infra():
		// The Go runtime of the plugin could not get a thread and died.
		t.Logf("the plugin went down with its bomb: %s", r.Status)
	default:
		t.Fatalf("fork bomb step: %+v", r)
	}
	var bomb []int
	if b, err := os.ReadFile(filepath.Join(pidsDir, "cgroup.procs")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				bomb = append(bomb, n)
			}
		}
	}
	if cur, err := os.ReadFile(filepath.Join(pidsDir, "pids.current")); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(cur))); n > maxPids {
			t.Fatalf("pids.current %d > %d", n, maxPids)
		}
	}

	// Kill the plugin as an operator (or the OOM killer) would: the host
	// reports CRASHED, then kills the whole tree, bomb included.
	if r.Status == gym.StatusOK {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if r := step(t, env, "a", 5*time.Second); r.Status != gym.StatusCrashed {
			t.Fatalf("step after killing the bombed plugin: %+v, want CRASHED", r)
		}
	}
	for _, b := range bomb {
		if !gone(b) {
			t.Errorf("bomb process %d survived the plugin", b)
		}
	}
	if _, err := os.Stat(pidsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s not removed: %v", pidsDir, err)
	}
	mustReset(t, env)
	if r := step(t, env, "a", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("after the bomb: %+v", r)
	}
	if np := p.PID(); np == pid || np == 0 {
		t.Fatalf("pid %d -> %d, want a fresh process", pid, np)
	}
	t.Logf("%d bomb processes cleaned up", len(bomb))
}

func TestIsolationMemoryBombKilled(t *testing.T) {
	const memMB = 96
	h := newHost(t, Config{PingTimeout: 500 * time.Millisecond}, Sandbox{MemoryMB: memMB}, "faulty")
	requireCgroups(t, h)
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	memDir := cgroupDir(t, pid, "memory")
	if b, _ := os.ReadFile(filepath.Join(memDir, "memory.limit_in_bytes")); strings.TrimSpace(string(b)) != strconv.Itoa(memMB<<20) {
		t.Fatalf("memory.limit_in_bytes %q, want %d", b, memMB<<20)
	}
	r := step(t, env, "membomb", 30*time.Second)
	if r.Status != gym.StatusCrashed || !r.Truncated {
		t.Fatalf("memory bomb: %+v, want CRASHED (killed by the memory cgroup)", r)
	}
	if !gone(pid) {
		t.Fatalf("bombed plugin %d still exists", pid)
	}
	mustReset(t, env)
	if r := step(t, env, "a", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("after the memory bomb: %+v", r)
	}
}

func TestIsolationTamperedWhileRunningRefusedOnRestart(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	// Swap the binary under the running process (rename, as an attacker
	// with write access to the plugin directory would; writing the
	// running file in place fails with ETXTBSY).
	bin := p.Manifest().BinaryPath()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".new", append(b, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	if r := step(t, env, "a", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("the running process is not affected: %+v", r)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := step(t, env, "b", 5*time.Second); r.Status != gym.StatusCrashed {
		t.Fatalf("%+v, want CRASHED", r)
	}
	if _, err := env.Reset(t.Context(), gym.ResetOptions{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("reset onto a tampered binary: err = %v, want ErrChecksum", err)
	}
	if p.PID() != 0 {
		t.Fatal("the tampered binary was started")
	}
}

// TestIsolationHostFiles reads, writes and unmounts from inside the
// plugin's mount namespace: the host's secrets (its temp files, home,
// shadow file, disk devices, the other plugins) are absent, the host's
// files are read-only, the cover cannot be removed, and the host's root
// cannot be reached through /proc; the plugin's own scratch, /tmp and
// /dev/shm are writable, and only the scratch is shared with the host.
func TestIsolationHostFiles(t *testing.T) {
	if why := MountNamespaceSupported(); why != "" {
		t.Fatalf("plugins get no file isolation here: %s", why)
	}
	h := newHost(t, Config{}, Sandbox{}, "faulty", "guess")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	p, _ := h.Plugin("test/faulty-v0")
	if lim := p.Limits(); !lim.Files {
		t.Fatalf("Limits().Files false: %+v", lim)
	}
	probe := func(action string) string { return step(t, env, action, 5*time.Second).Observation.Text }

	// Secrets of the host: a temp file, a file in the home directory.
	tmpSecret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(tmpSecret, []byte("host only"), 0o600); err != nil {
		t.Fatal(err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	homeSecret := filepath.Join(home, fmt.Sprintf(".envgym-isolation-test-%d", os.Getpid()))
	if err := os.WriteFile(homeSecret, []byte("host only"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(homeSecret) })
	absent := func(path string) {
		t.Helper()
		if got := probe("readfile " + path); !strings.HasPrefix(got, "readfile error: ") {
			t.Errorf("plugin read %s: %q, want an error", path, got)
		}
	}
	absent(tmpSecret)
	absent(homeSecret)
	// Through the root of a host process (the test itself).
	absent(fmt.Sprintf("/proc/%d/root%s", os.Getpid(), homeSecret))
	absent(fmt.Sprintf("/proc/%d/cwd/isolation_test.go", os.Getpid()))
	if b, err := os.ReadFile("/etc/shadow"); err == nil && len(b) > 0 {
		if got := probe("readfile /etc/shadow"); got != "readfile ok: " && !strings.HasPrefix(got, "readfile error: ") {
			t.Errorf("plugin read /etc/shadow: %.60q, want nothing", got)
		}
	}
	// Only its own folder of the plugin directory, and no disk device.
	if got := probe("listdir " + h.cfg.Dir); got != "listdir ok: faulty" {
		t.Errorf("plugin directory seen by the plugin: %q, want only its own folder", got)
	}
	absent(filepath.Join(h.cfg.Dir, "guess", ManifestFile))
	allowed := map[string]bool{"null": true, "zero": true, "full": true, "random": true, "urandom": true, "tty": true,
		"ptmx": true, "pts": true, "shm": true, "fd": true, "stdin": true, "stdout": true, "stderr": true}
	got := probe("listdir /dev")
	for _, n := range strings.Fields(strings.TrimPrefix(got, "listdir ok: ")) {
		if !allowed[n] {
			t.Errorf("/dev/%s visible in the sandbox (%q)", n, got)
		}
	}

	// Writes outside: refused by the read-only file system, nothing
	// appears on the host.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/var/tmp", wd, "/etc"} {
		out := filepath.Join(dir, fmt.Sprintf("written-by-plugin-%d", os.Getpid()))
		got := probe("writefile " + out)
		if _, err := os.Stat(out); err == nil {
			os.Remove(out)
			t.Errorf("plugin wrote %s on the host (%q)", out, got)
		} else if hidden := dir == wd && underHidden(wd); hidden && !strings.Contains(got, "no such file or directory") && !strings.Contains(got, "read-only file system") {
			// A checkout under /tmp, /root or /home is covered in the
			// plugin's view.
			t.Errorf("write %s: %q, want ENOENT (hidden) or EROFS", out, got)
		} else if !hidden && !strings.Contains(got, "read-only file system") {
			t.Errorf("write %s: %q, want EROFS", out, got)
		}
	}
	// Undoing the cover needs CAP_SYS_ADMIN, which the plugin lacks.
	if got := probe("umount /tmp"); !strings.Contains(got, "operation not permitted") {
		t.Errorf("umount /tmp from the plugin: %q, want EPERM", got)
	}
	absent(tmpSecret)

	// Writable: /tmp and /dev/shm (private), the scratch TMPDIR (shared).
	name := fmt.Sprintf("isolation-%d", os.Getpid())
	for _, path := range []string{"/tmp/" + name, "/dev/shm/" + name} {
		if got := probe("writefile " + path); got != "writefile ok" {
			t.Errorf("write %s: %q", path, got)
		}
		if _, err := os.Stat(path); err == nil {
			os.Remove(path)
			t.Errorf("the plugin's private %s is the host's", path)
		}
	}
	scratch := filepath.Join(os.TempDir(), "envgym-sandbox", "faulty", name)
	if got := probe("writefile " + scratch); got != "writefile ok" {
		t.Errorf("write to the scratch directory %s: %q", scratch, got)
	}
	if b, err := os.ReadFile(scratch); err != nil || !strings.Contains(string(b), "faulty plugin") {
		t.Errorf("scratch file on the host: %q, %v", b, err)
	}
	os.Remove(scratch)

	// The manifest's opt-out gives the host's files back, as a root
	// plugin's host uid may read them: not root's private ones.
	public := filepath.Join(t.TempDir(), "host-public")
	if err := os.WriteFile(public, []byte("host file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(public), filepath.Dir(filepath.Dir(public))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hh := newHost(t, Config{}, Sandbox{HostFiles: true, Root: true}, "faulty")
	envH := mustMake(t, hh, "test/faulty-v0")
	mustReset(t, envH)
	if got := step(t, envH, "readfile "+public, 5*time.Second).Observation.Text; got != "readfile ok: host file" {
		t.Errorf("sandbox.host_files: %q, want the host's file", got)
	}
	if got := step(t, envH, "readfile "+tmpSecret, 5*time.Second).Observation.Text; !strings.Contains(got, "permission denied") {
		t.Errorf("sandbox.host_files, root's 0600 file: %q, want EACCES", got)
	}
}

// underHidden reports whether path lies in a folder the plugin sandbox
// covers with an empty one.
func underHidden(path string) bool {
	for _, d := range []string{"/tmp/", "/root/", "/home/"} {
		if strings.HasPrefix(path, d) {
			return true
		}
	}
	return false
}

// TestSweDiskLimitedAsPlugin: swe installed as scripts/setup.sh installs
// it (root, in a user namespace of its own) mounts each episode's
// size-limited tmpfs in its own mount namespace, so a command filling
// the disk stops at the episode's limit (1 GiB) with ENOSPC. Fails at
// 61ee29e: "disk_limited" false (a root plugin could not mount) and the
// write went to the host's disk.
func TestSweDiskLimitedAsPlugin(t *testing.T) {
	var swe familyPlugin
	for _, f := range families {
		if f.name == "swe" {
			swe = f
		}
	}
	bin := filepath.Join(binDir, "gym-plugin-swe")
	if _, err := os.Stat(bin); err != nil { // TestInfraFailuresTruncateEveryFamily builds it too
		if out, err := exec.Command("go", "build", "-o", bin, swe.pkg).CombinedOutput(); err != nil {
			t.Fatalf("build the swe plugin: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	if _, err := Install(context.Background(), bin, dir, InstallOptions{Name: "swe", Sandbox: swe.sandbox}); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Dir: dir})
	t.Cleanup(func() { h.Close() })
	env, err := h.Make(context.Background(), swe.envID, swe.opts(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	if obs := mustReset(t, env); obs.Info["disk_limited"] != true {
		t.Errorf("disk_limited = %v, want true", obs.Info["disk_limited"])
	}
	r := step(t, env, `bash("head -c 1200000000 /dev/zero > fill; echo rc=$?; rm -f fill")`, 2*time.Minute)
	t.Logf("disk filler: %s", r.Observation.Text)
	if got := r.Observation.Text; !strings.Contains(got, "No space left on device") || strings.Contains(got, "rc=0") {
		t.Errorf("a 1.2 GB write in an episode: %q, want ENOSPC", got)
	}
	// The command ran in its own groups under the plugin's delegated
	// subtree (its init joined them itself: swe, not the host's root,
	// may not move a process of nobody's).
	r = step(t, env, `bash("grep -E ':(memory|pids|cpu[^:]*):' /proc/self/cgroup")`, time.Minute)
	t.Logf("command's cgroups: %s", r.Observation.Text)
	if n := strings.Count(r.Observation.Text, "/"+DelegatedCgroup+"/envgym-swe-"); n != 3 {
		t.Errorf("the command is in %d groups of swe's delegated subtree, want 3 (memory, pids, cpu): %q", n, r.Observation.Text)
	}
}
