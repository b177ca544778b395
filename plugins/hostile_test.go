package plugins

import (
	"context"
	"fmt"
	"net"
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

// The hostile-plugin suite: sdk/internal/hostile tries each attack of
// issue #18 from inside a plugin installed with the default sandbox, and
// each must fail. Every assertion marked "fails at 6e6bf5c" was checked
// to fail on the code before this sandbox (the plugin ran as root in the
// host's PID namespace with the host's environment, the Docker socket and
// a writable cgroup tree), by running this file against a build of that
// commit in a separate worktree.

// hostListener serves one line to each connection on the host's loopback.
func hostListener(t *testing.T, greeting string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", greeting)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// hostProcessWith is the pid of a host process whose command line holds
// text, 0 if none.
func hostProcessWith(text string) int {
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), text) {
			if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); strings.Contains(string(st), ") Z ") {
				continue // a zombie is dead
			}
			return pid
		}
	}
	return 0
}

func TestHostilePluginContained(t *testing.T) {
	// Secrets in the host's environment (t.Setenv: the plugin starts at
	// Make, after these).
	secrets := map[string]string{"OPENAI_API_KEY": "sk-hostile-test", "AWS_SECRET_ACCESS_KEY": "aws-hostile-test", "GYM_SERVE_TOKEN": "serve-hostile-test"}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	// A marker process of the host: the only one the plugin may try to kill.
	tag := fmt.Sprintf("%d%06d", os.Getpid(), time.Now().UnixNano()%1e6) // sleep 3600.TAG: a valid, unique duration
	marker := exec.Command("/bin/sleep", "3600."+tag)
	if err := marker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { marker.Process.Kill(); marker.Wait() })
	allowed, blocked := hostListener(t, "hello-allowed"), hostListener(t, "hello-blocked")

	h := newHost(t, Config{}, Sandbox{}, "hostile", "faulty")
	envAny, err := h.Make(context.Background(), "test/hostile-v0", map[string]any{OptionAllowedHosts: []any{fmt.Sprintf("127.0.0.1:%d", allowed), "example.com"}})
	if err != nil {
		t.Fatalf("make: %v", err)
	}
	env := envAny.(*Remote)
	t.Cleanup(func() { env.Close() })
	mustReset(t, env)
	attack := func(action string) string { return step(t, env, action, 10*time.Second).Observation.Text }
	hp, _ := h.Plugin("test/hostile-v0")

	t.Run("host environment secrets", func(t *testing.T) {
		for k := range secrets { // fails at 6e6bf5c: the host's whole environment was passed
			if got := attack("env " + k); got != "env unset" {
				t.Errorf("plugin read $%s: %q", k, got)
			}
		}
		if got := attack("env PATH"); !strings.HasPrefix(got, "env set ") {
			t.Errorf("PATH not passed: %q", got)
		}
	})

	t.Run("docker socket", func(t *testing.T) {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			t.Fatalf("no Docker engine on this machine (%v): setup starts dockerd; without it this attack proves nothing", err)
		}
		// fails at 6e6bf5c: "docker ok HTTP/1.0 200 OK"
		if got := attack("docker"); !strings.HasPrefix(got, "docker refused") {
			t.Errorf("plugin reached the Docker engine: %q", got)
		}
	})

	t.Run("host processes", func(t *testing.T) {
		// fails at 6e6bf5c: the plugin listed the host's processes and found the marker
		if got := attack("findproc 3600." + tag); !strings.HasPrefix(got, "findproc none") {
			t.Errorf("plugin sees the host's processes: %q", got)
		}
		// fails at 6e6bf5c: "kill ok" and the marker died
		if got := attack(fmt.Sprintf("kill %d", marker.Process.Pid)); got == "kill ok" && hostProcessWith("3600."+tag) == 0 {
			t.Errorf("plugin killed a host process: %q", got)
		}
		if hostProcessWith("3600."+tag) != marker.Process.Pid {
			t.Errorf("the host's marker process %d is gone", marker.Process.Pid)
		}
	})

	t.Run("ptrace a sibling plugin", func(t *testing.T) {
		victim := mustMake(t, h, "test/faulty-v0")
		mustReset(t, victim)
		fp, _ := h.Plugin("test/faulty-v0")
		// fails at 6e6bf5c: "ptrace attach: ok; mem: ok" (same uid, no PID namespace)
		if got := attack(fmt.Sprintf("ptrace %d", fp.PID())); strings.Contains(got, ": ok") {
			t.Errorf("plugin attached to its sibling %d: %q", fp.PID(), got)
		}
		if r := step(t, victim, "a", 5*time.Second); r.Status != gym.StatusOK {
			t.Errorf("the sibling after the attack: %+v", r)
		}
	})

	t.Run("identity", func(t *testing.T) {
		got := attack("whoami") // fails at 6e6bf5c: uid=0, capabilities, Seccomp=0
		for _, want := range []string{"CapEff=0000000000000000", "CapBnd=0000000000000000", "NoNewPrivs=1", "Seccomp=2"} {
			if !strings.Contains(got, want) {
				t.Errorf("whoami %q: want %s", got, want)
			}
		}
		if strings.Contains(got, "uid=0 ") {
			t.Errorf("plugin runs as root: %q", got)
		}
		if got := attack("mount"); !strings.Contains(got, "operation not permitted") {
			t.Errorf("mount in the plugin: %q, want EPERM", got)
		}
	})

	t.Run("cgroup limits", func(t *testing.T) {
		pid := hp.PID()
		memDir := cgroupDir(t, pid, "memory")
		before, _ := os.ReadFile(filepath.Join(memDir, "memory.limit_in_bytes"))
		// fails at 6e6bf5c: "cgroup-raise ok" and the limit became 16 GiB
		if got := attack("cgroup-raise"); !strings.HasPrefix(got, "cgroup-raise error") {
			t.Errorf("plugin raised its memory limit: %q", got)
		}
		if after, _ := os.ReadFile(filepath.Join(memDir, "memory.limit_in_bytes")); string(after) != string(before) {
			t.Errorf("memory limit %s -> %s", before, after)
		}
		// fails at 6e6bf5c: "memory: ok; pids: ok", the plugin left its cgroups
		if got := attack("cgroup-leave"); strings.Contains(got, ": ok") {
			t.Errorf("plugin moved itself out of its cgroups: %q", got)
		}
		for _, c := range []string{"memory", "pids"} {
			if d := cgroupDir(t, pid, c); !strings.Contains(d, "/envgym/") {
				t.Errorf("plugin's %s cgroup is now %s", c, d)
			}
		}
	})

	t.Run("host loopback", func(t *testing.T) {
		// fails at 6e6bf5c: connection refused (no forwarding; the site
		// on the host's loopback was out of reach even when allowed)
		if got := attack(fmt.Sprintf("connect 127.0.0.1:%d", allowed)); got != "connect ok hello-allowed" {
			t.Errorf("allowed host port %d: %q", allowed, got)
		}
		// Passes at 6e6bf5c too (own network namespace): guards the
		// forwarder against opening more than it was asked.
		if got := attack(fmt.Sprintf("connect 127.0.0.1:%d", blocked)); !strings.HasPrefix(got, "connect error") {
			t.Errorf("port %d not in allowed_hosts reached: %q", blocked, got)
		}
	})

	t.Run("surviving daemon", func(t *testing.T) {
		dtag := "4242." + tag
		if got := attack("daemon " + dtag); !strings.HasPrefix(got, "daemon started") {
			t.Fatalf("daemon: %q", got)
		}
		if hostProcessWith(dtag) == 0 {
			t.Fatal("the daemon did not start")
		}
		// Kill the plugin's process only (not its group, not its cgroup):
		// fails at 6e6bf5c, where the setsid child outlived it.
		if err := syscall.Kill(hp.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var left int
		for i := 0; i < 100; i++ {
			if left = hostProcessWith(dtag); left == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if left != 0 {
			syscall.Kill(left, syscall.SIGKILL)
			t.Errorf("the plugin's setsid daemon %d outlived it", left)
		}
	})
}

// TestHostileRootPluginCgroupSubtree: a root plugin (swe's manifest:
// sandbox.root, with or without host_files) may make groups only in the
// subtree the host delegated to it, inside its own limits; the rest of
// the cgroup tree, its own group's limits included, is read-only to it.
// And it can still do what swe's namespace backend does. Each "fails
// before" was checked against a build of 2a3f07a (with host_files: the
// root plugin saw the host's cgroup tree writable).
func TestHostileRootPluginCgroupSubtree(t *testing.T) {
	for _, sb := range []Sandbox{{Root: true, HostFiles: true}, {Root: true}} {
		t.Run(fmt.Sprintf("host_files=%v", sb.HostFiles), func(t *testing.T) { rootPluginCgroupSubtree(t, sb) })
	}
}

func rootPluginCgroupSubtree(t *testing.T, sb Sandbox) {
	h := newHost(t, Config{}, sb, "hostile")
	env := mustMake(t, h, "test/hostile-v0")
	mustReset(t, env)
	attack := func(action string) string { return step(t, env, action, 10*time.Second).Observation.Text }
	hp, _ := h.Plugin("test/hostile-v0")
	pid := hp.PID()
	memDir := cgroupDir(t, pid, "memory")
	before, _ := os.ReadFile(filepath.Join(memDir, "memory.limit_in_bytes"))

	// fails before: "cgroup-raise ok" and the limit became 16 GiB
	if got := attack("cgroup-raise"); !strings.HasPrefix(got, "cgroup-raise error") {
		t.Errorf("root plugin raised its memory limit: %q", got)
	}
	if after, _ := os.ReadFile(filepath.Join(memDir, "memory.limit_in_bytes")); string(after) != string(before) {
		t.Errorf("memory limit %s -> %s", before, after)
	}
	// fails before: "memory: ok; pids: ok"
	if got := attack("cgroup-leave"); strings.Contains(got, ": ok") {
		t.Errorf("root plugin moved itself out of its cgroups: %q", got)
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if d := cgroupDir(t, pid, c); !strings.Contains(d, "/envgym/") {
			t.Errorf("root plugin's %s cgroup is now %s", c, d)
		}
	}
	// fails before: "memory: ok; pids: ok; cpu: ok"
	if got := attack("cgroup-mkdir"); strings.Contains(got, ": ok") {
		t.Errorf("root plugin made a cgroup outside its subtree: %q", got)
	}
	// What swe's namespace backend needs keeps working (fails before: no
	// delegated subtree); the subgroup lives under the plugin's own group.
	if got := attack("cgroup-delegate"); got != "cgroup-delegate memory: ok; pids: ok; cpu: ok" {
		t.Errorf("root plugin could not use its delegated subtree: %q", got)
	}
	if _, err := os.Stat(filepath.Join(memDir, DelegatedCgroup)); err != nil {
		t.Errorf("the delegated subtree is not under the plugin's group %s: %v", memDir, err)
	}
	// swe's namespace backend starts every command so. Fails at 2a3f07a
	// ("fork/exec /bin/true: operation not permitted"): the plugin saw the
	// host's proc, where its child's pid named another process, so the
	// uid map was written to the wrong one.
	if got := attack("userns"); got != "userns ok" {
		t.Errorf("root plugin could not start a process in a user namespace: %q", got)
	}
	// Root of its own user namespace: it mounts in its own mount namespace
	// (swe's episode tmpfs), which the host never sees.
	if got := attack("mount"); got != "mount ok" {
		t.Errorf("mount in the root plugin's own mount namespace: %q", got)
	}
	if mounted(t, "/mnt") {
		t.Errorf("the root plugin's mount on /mnt shows on the host")
	}
	// A process it left in a group of its subtree dies with the plugin,
	// and the host removes the groups it made.
	tag := fmt.Sprintf("7200.%d%06d", os.Getpid(), time.Now().UnixNano()%1e6)
	if got := attack("cgroup-nest " + tag); got != "cgroup-nest ok" {
		t.Fatalf("cgroup-nest: %q", got)
	}
	if hostProcessWith(tag) == 0 {
		t.Fatal("the nested process did not start")
	}
	rel := strings.TrimPrefix(memDir, "/sys/fs/cgroup/memory/")
	nest := func(c string) string { return filepath.Join("/sys/fs/cgroup", c, rel, DelegatedCgroup, "nest") }
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(nest(c)); err != nil {
			t.Fatalf("the plugin's nested %s group: %v", c, err)
		}
	}
	hp.Stop()
	if left := hostProcessWith(tag); left != 0 {
		syscall.Kill(left, syscall.SIGKILL)
		t.Errorf("the process in the plugin's subgroup %d outlived it", left)
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, rel)); !os.IsNotExist(err) {
			t.Errorf("the plugin's %s group is left after it stopped: %v", c, err)
		}
	}
}

// mounted says whether a mount point of the host's mount namespace is at
// point.
func mounted(t *testing.T, point string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == point {
			return true
		}
	}
	return false
}

// TestHostileRootPluginNotHostRoot: a root plugin (swe's manifest, with
// or without host_files) is root of a user namespace of its own whose
// root is its unprivileged uid on the host, so the ways a root euid
// reaches the host all fail. Each "fails at 61ee29e" was checked against
// a build of that commit, where the plugin ran as the host's uid 0 with
// CAP_SYS_ADMIN dropped and an uncovered proc.
func TestHostileRootPluginNotHostRoot(t *testing.T) {
	for _, sb := range []Sandbox{{Root: true, HostFiles: true}, {Root: true}} {
		t.Run(fmt.Sprintf("host_files=%v", sb.HostFiles), func(t *testing.T) { rootPluginNotHostRoot(t, sb) })
	}
}

func rootPluginNotHostRoot(t *testing.T, sb Sandbox) {
	before, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Fatal(err)
	}
	// The plugin writes back the value it read: even where a write gets
	// through, core_pattern stays as it was.
	t.Cleanup(func() {
		if after, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(after) != string(before) {
			t.Errorf("core_pattern changed: %q -> %q", before, after)
		}
	})
	tag := fmt.Sprintf("%d%06d", os.Getpid(), time.Now().UnixNano()%1e6)
	marker := exec.Command("/bin/sleep", "3600."+tag)
	if err := marker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { marker.Process.Kill(); marker.Wait() })

	// A file its user hands it by a path option, in a folder the sandbox
	// hides (under the host's /tmp): attached read-only.
	task := filepath.Join(t.TempDir(), "task.json")
	if err := os.WriteFile(task, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(task), filepath.Dir(filepath.Dir(task))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	h := newHost(t, Config{}, sb, "hostile")
	envAny, err := h.Make(context.Background(), "test/hostile-v0", map[string]any{"task_file": task})
	if err != nil {
		t.Fatal(err)
	}
	env := envAny.(*Remote)
	t.Cleanup(func() { env.Close() })
	mustReset(t, env)
	attack := func(action string) string {
		got := step(t, env, action, 10*time.Second).Observation.Text
		t.Logf("%s", got)
		return got
	}
	hp, _ := h.Plugin("test/hostile-v0")

	// fails at 61ee29e: "Uid: 0 0 0 0"
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hp.PID()))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			ids[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for _, k := range []string{"Uid", "Gid"} { // real, effective, saved, fs
		if want := strings.TrimSpace(strings.Repeat(fmt.Sprint(PluginUID("hostile"))+" ", 4)); ids[k] != want {
			t.Errorf("the root plugin's host %s: %q, want %q", k, ids[k], want)
		}
	}
	if ids["Groups"] != "" { // the host root's are dropped
		t.Errorf("the root plugin's supplementary groups: %q, want none", ids["Groups"])
	}
	// ... while it is root in its namespace, as swe needs.
	if got := attack("whoami"); !strings.HasPrefix(got, "whoami uid=0 ") {
		t.Errorf("whoami: %q, want root of its namespace", got)
	}
	// fails at 61ee29e: "sysctl write: ok" (euid 0 is the host's root:
	// sysctl asks no capability)
	if got := attack("sysctl"); !strings.HasPrefix(got, "sysctl write: ") || strings.HasSuffix(got, ": ok") {
		t.Errorf("write core_pattern: %q, want the write refused", got)
	}
	// fails at 61ee29e: "userns-sysctl userns: mount proc: ok; write: ok"
	// (0 mapped to the host's 0, a fresh proc, the same write)
	if got := attack("userns-sysctl"); strings.HasSuffix(got, "write: ok") {
		t.Errorf("write core_pattern from a new user namespace: %q", got)
	}
	// Its proc is uncovered (its sandboxes mount procs in user namespaces):
	// root's files there do not open to its host uid (sysrq-trigger and
	// kcore where the kernel has them). Fails at 61ee29e: the host's root
	// opened drop_caches and timer_list.
	if got := attack("procfiles"); strings.Contains(got, "opened") || strings.Count(got, "permission denied") < 2 {
		t.Errorf("open root's files of its proc: %q, want each refused", got)
	}
	// fails at 61ee29e with host_files (CAP_DAC_OVERRIDE of the host's
	// root: "direct: read root's entry"); without, the cover held then too.
	if got := attack("shadow"); strings.Contains(got, "read root's entry") {
		t.Errorf("read /etc/shadow: %q", got)
	}
	// The folder attached for it stays read-only: the host attaches it in
	// the init's mount namespace, whence it propagates into the plugin's
	// copy with its read-only flag locked. (It may unmount it: its own
	// loss, the empty folder under it shows.) Passes at 61ee29e too: no
	// CAP_SYS_ADMIN then.
	if !sb.HostFiles {
		if got := attack("undo " + task); !strings.HasPrefix(got, "undo read: ok; remount writable: operation not permitted;") {
			t.Errorf("undo the attached folder: %q, want it read, and the remount refused", got)
		}
	}
	// Passes at 61ee29e too (own PID namespace): host pids name nothing
	// it may signal.
	attack(fmt.Sprintf("kill %d", marker.Process.Pid))
	if hostProcessWith("3600."+tag) != marker.Process.Pid {
		t.Errorf("the host's marker process %d is gone", marker.Process.Pid)
	}
}

// TestHostileDockerOnlyWhenAsked: sandbox.docker gives Docker back, to a
// plugin still running unprivileged: its broker answers at the engine's
// socket (what it refuses: TestHostileDockerBroker).
func TestHostileDockerOnlyWhenAsked(t *testing.T) {
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		t.Fatalf("no Docker engine on this machine (%v): setup starts dockerd", err)
	}
	h := newHost(t, Config{}, Sandbox{Docker: true}, "hostile")
	env := mustMake(t, h, "test/hostile-v0")
	mustReset(t, env)
	if got := step(t, env, "docker", 10*time.Second).Observation.Text; !strings.HasPrefix(got, "docker ok HTTP/1.") {
		t.Errorf("sandbox.docker: %q, want the engine's answer", got)
	}
	// A root plugin too (swe): the docker group is mapped into its user
	// namespace and kept as its supplementary group.
	h = newHost(t, Config{}, Sandbox{Root: true, Docker: true}, "hostile")
	env = mustMake(t, h, "test/hostile-v0")
	mustReset(t, env)
	if got := step(t, env, "docker", 10*time.Second).Observation.Text; !strings.HasPrefix(got, "docker ok HTTP/1.") {
		t.Errorf("sandbox.root+docker: %q, want the engine's answer", got)
	}
}

// TestOptionPathsExposedReadOnly: a host path named by a path option
// (here task_file, under the host's /tmp, which the sandbox hides)
// becomes visible to the plugin, read-only; its neighbours stay hidden.
func TestOptionPathsExposedReadOnly(t *testing.T) {
	site := filepath.Join(t.TempDir(), "site")
	other := filepath.Join(t.TempDir(), "other")
	for _, d := range []string{site, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	task, secret := filepath.Join(site, "task.json"), filepath.Join(other, "secret")
	for _, f := range []string{task, secret, filepath.Join(site, "index.html")} {
		if err := os.WriteFile(f, []byte("host file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env, err := h.Make(context.Background(), "test/faulty-v0", map[string]any{"task_file": task})
	if err != nil {
		t.Fatalf("make with task_file: %v", err)
	}
	t.Cleanup(func() { env.Close() })
	mustReset(t, env)
	probe := func(a string) string { return step(t, env, a, 5*time.Second).Observation.Text }
	for _, f := range []string{task, filepath.Join(site, "index.html")} {
		if got := probe("readfile " + f); got != "readfile ok: host file" {
			t.Errorf("read %s: %q", f, got)
		}
	}
	if got := probe("readfile " + secret); !strings.HasPrefix(got, "readfile error") {
		t.Errorf("a folder no option named: %q", got)
	}
	if got := probe("writefile " + filepath.Join(site, "new")); !strings.Contains(got, "read-only file system") {
		t.Errorf("write into the exposed folder: %q, want EROFS", got)
	}
	// Too broad, or unreadable to the plugin's uid: a clear error.
	broad, err := os.CreateTemp("", "envgym-corpus-*.jsonl") // directly in /tmp
	if err != nil {
		t.Fatal(err)
	}
	broad.Close()
	t.Cleanup(func() { os.Remove(broad.Name()) })
	if err := os.Chmod(broad.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Make(context.Background(), "test/faulty-v0", map[string]any{"corpus": broad.Name()}); err == nil || !strings.Contains(err.Error(), "too broad") {
		t.Errorf("a path directly in /tmp: err = %v, want one naming the sandbox", err)
	}
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Make(context.Background(), "test/faulty-v0", map[string]any{"questions": secret}); err == nil || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("an unreadable file: err = %v, want the fix", err)
	}
}

// Reading a line from a forwarded port works for as long as an instance
// allows it; closing the last such instance closes the port.
func TestAllowedHostsForwardReleased(t *testing.T) {
	port := hostListener(t, "hi")
	h := newHost(t, Config{}, Sandbox{}, "hostile")
	a, err := h.Make(context.Background(), "test/hostile-v0", map[string]any{OptionAllowedHosts: []any{fmt.Sprintf("http://localhost:%d/app", port)}})
	if err != nil {
		t.Fatal(err)
	}
	mustReset(t, a)
	b := mustMake(t, h, "test/hostile-v0")
	mustReset(t, b)
	connect := fmt.Sprintf("connect 127.0.0.1:%d", port)
	if got := step(t, b, connect, 5*time.Second).Observation.Text; got != "connect ok hi" {
		t.Fatalf("while allowed: %q", got)
	}
	a.Close()
	if got := step(t, b, connect, 5*time.Second).Observation.Text; !strings.HasPrefix(got, "connect error") {
		t.Errorf("after the allowing instance closed: %q", got)
	}
	if _, err := h.Make(context.Background(), "test/hostile-v0", map[string]any{OptionAllowedHosts: 42}); err == nil || !strings.Contains(err.Error(), OptionAllowedHosts) {
		t.Errorf("bad allowed_hosts: %v", err)
	}
}

// TestHostilePythonPluginContained: the same attacks from a Python
// plugin (sdk/internal/hostile/python): the sandbox is the host's doing,
// whatever the plugin is written in. Each assertion fails at 6e6bf5c.
func TestHostilePythonPluginContained(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-hostile-test")
	tag := fmt.Sprintf("%d%06d", os.Getpid(), time.Now().UnixNano()%1e6)
	marker := exec.Command("/bin/sleep", "3600."+tag)
	if err := marker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { marker.Process.Kill(); marker.Wait() })
	dir := t.TempDir()
	if _, err := Install(context.Background(), "../sdk/internal/hostile/python/main.py", dir, InstallOptions{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	h := New(Config{Dir: dir})
	t.Cleanup(func() { h.Close() })
	env, err := h.Make(context.Background(), "test/hostile-py-v0", nil)
	if err != nil {
		t.Fatalf("make: %v", err)
	}
	t.Cleanup(func() { env.Close() })
	mustReset(t, env)
	attack := func(a string) string { return step(t, env, a, 10*time.Second).Observation.Text }
	if got := attack("env OPENAI_API_KEY"); got != "env unset" {
		t.Errorf("read the host's secret: %q", got)
	}
	if got := attack("docker"); !strings.HasPrefix(got, "docker refused") {
		t.Errorf("reached the Docker engine: %q", got)
	}
	if got := attack("findproc 3600." + tag); !strings.HasPrefix(got, "findproc none") {
		t.Errorf("sees the host's processes: %q", got)
	}
	attack(fmt.Sprintf("kill %d", marker.Process.Pid))
	if hostProcessWith("3600."+tag) != marker.Process.Pid {
		t.Errorf("the host's marker process %d is gone", marker.Process.Pid)
	}
	got := attack("whoami")
	for _, want := range []string{"CapEff=0000000000000000", "NoNewPrivs=1", "Seccomp=2"} {
		if !strings.Contains(got, want) || strings.Contains(got, "uid=0 ") {
			t.Errorf("whoami %q: want %s and not root", got, want)
		}
	}
	if got := attack("cgroup-raise"); !strings.HasPrefix(got, "cgroup-raise error") {
		t.Errorf("raised its memory limit: %q", got)
	}
	// Not dumpable (the SDK's serve() clears it again after exec): no
	// process of its uid may attach to it or read its memory. Fails at
	// 2a3f07a: "dumpable 1", /proc/PID/status owned by the plugin's uid.
	if got := attack("dumpable"); got != "dumpable 0" {
		t.Errorf("prctl(PR_GET_DUMPABLE) in the plugin: %q, want 0", got)
	}
	hp, _ := h.Plugin("test/hostile-py-v0")
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/status", hp.PID()), &st); err != nil {
		t.Fatal(err)
	} else if st.Uid != 0 {
		// The kernel gives a non-dumpable process's /proc/PID files
		// (not the directory) to root.
		t.Errorf("/proc/%d/status belongs to uid %d: the plugin is dumpable", hp.PID(), st.Uid)
	}
}
