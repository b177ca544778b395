package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

// binDir holds plugin binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	SandboxInitMain()
	dir, err := os.MkdirTemp("", "envgym-plugins-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for pkg, name := range map[string]string{
		"../sdk/internal/faulty":                 "gym-plugin-faulty",
		"../sdk/internal/hostile":                "gym-plugin-hostile",
		"../examples/guess/cmd/gym-plugin-guess": "gym-plugin-guess",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost installs the named test plugins into a fresh directory.
func newHost(t *testing.T, cfg Config, sandbox Sandbox, names ...string) *Host {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if _, err := Install(context.Background(), filepath.Join(binDir, "gym-plugin-"+n), dir, InstallOptions{Sandbox: sandbox}); err != nil {
			t.Fatalf("install %s: %v", n, err)
		}
	}
	cfg.Dir = dir
	h := New(cfg)
	if len(h.Problems) > 0 {
		t.Fatalf("discover: %v", h.Problems)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func mustMake(t *testing.T, h *Host, id string) *Remote {
	t.Helper()
	env, err := h.Make(context.Background(), id, nil)
	if err != nil {
		t.Fatalf("make %s: %v", id, err)
	}
	t.Cleanup(func() { env.Close() })
	return env.(*Remote)
}

func mustReset(t *testing.T, env gym.Env) gym.Observation {
	t.Helper()
	obs, err := env.Reset(context.Background(), gym.ResetOptions{Seed: 1})
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	return obs
}

func step(t *testing.T, env gym.Env, action string, timeout time.Duration) gym.StepResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := env.Step(ctx, action)
	if err != nil {
		t.Fatalf("step %q: %v", action, err)
	}
	return r
}

// gone reports whether pid no longer exists (not even as a zombie).
func gone(pid int) bool {
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// waitStopped waits until every thread of pid is in state T (stopped).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
			if f := strings.Fields(rest); len(f) == 0 || f[0] != "T" {
				stopped = false
			}
		}
		if stopped {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d did not stop", pid)
}

func TestRemoteEpisodeThroughPlugin(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "guess")
	env := mustMake(t, h, "example/guess-v0")
	spec := env.Spec()
	if spec.ID != "example/guess-v0" || spec.Components["plugin_sha256"] == "" || spec.Components["plugin"] != "guess" {
		t.Fatalf("spec = %+v, want id, plugin name and sha256", spec)
	}
	mustReset(t, env)
	lo, hi := 1, 100
	for i := 0; i < 10; i++ {
		mid := (lo + hi) / 2
		r := step(t, env, fmt.Sprintf("guess %d", mid), 5*time.Second)
		if r.Status != gym.StatusOK {
			t.Fatalf("status %v", r.Status)
		}
		if r.Terminated {
			if r.Reward != 1 || !r.Success() {
				t.Fatalf("final step %+v, want reward 1 and success", r)
			}
			if _, err := env.Step(context.Background(), "guess 1"); !errors.Is(err, gym.ErrEpisodeDone) {
				t.Fatalf("step after end: err = %v, want ErrEpisodeDone", err)
			}
			return
		}
		if strings.Contains(r.Observation.Text, "higher") {
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	t.Fatal("binary search did not finish in 10 guesses")
}

func TestInvalidActionIsObservationNotError(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "guess")
	env := mustMake(t, h, "example/guess-v0")
	mustReset(t, env)
	for _, a := range []string{"", "guess", "guess 1000", "\x00\xff", strings.Repeat("ü", 10000)} {
		r := step(t, env, a, 5*time.Second)
		if r.Status != gym.StatusInvalidAction || r.Done() || r.Observation.Info["error"] == nil {
			t.Errorf("action %q: %+v, want INVALID_ACTION with an error, episode going on", a, r)
		}
	}
}

func TestKill9MidEpisodeGivesCrashedAndRecovers(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	step(t, env, "a", 5*time.Second)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := step(t, env, "b", 5*time.Second)
	if r.Status != gym.StatusCrashed || !r.Truncated {
		t.Fatalf("after kill -9: %+v, want CRASHED and truncated", r)
	}
	if !gone(pid) {
		t.Fatalf("plugin process %d still exists (zombie?)", pid)
	}
	mustReset(t, env)
	if r := step(t, env, "c", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("after restart: %+v", r)
	}
	if np := p.PID(); np == pid || np == 0 || p.Restarts() != 1 {
		t.Fatalf("pid %d -> %d, restarts %d: want a new process", pid, np, p.Restarts())
	}
}

func TestCrashInsideStep(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	r := step(t, env, "crash", 5*time.Second)
	if r.Status != gym.StatusCrashed {
		t.Fatalf("%+v, want CRASHED", r)
	}
	if !strings.Contains(r.Observation.Text, "crashed") {
		t.Errorf("observation %q should say the plugin crashed", r.Observation.Text)
	}
	mustReset(t, env)
}

func TestHungPluginTimesOutIsKilledAndRestarts(t *testing.T) {
	h := newHost(t, Config{PingTimeout: 300 * time.Millisecond}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid) // SIGSTOP is asynchronous: a thread may still answer until the group stop completes
	r := step(t, env, "a", 500*time.Millisecond)
	if r.Status != gym.StatusTimeout || !r.Truncated {
		t.Fatalf("stopped plugin: %+v, want TIMEOUT and truncated", r)
	}
	if !gone(pid) {
		t.Fatalf("hung plugin %d was not killed", pid)
	}
	mustReset(t, env)
	if r := step(t, env, "b", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("after restart: %+v", r)
	}
}

func TestHungEnvTimesOutPluginSurvives(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	other := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	mustReset(t, other)
	p, _ := h.Plugin("test/faulty-v0")
	pid := p.PID()
	if r := step(t, env, "hang", 300*time.Millisecond); r.Status != gym.StatusTimeout {
		t.Fatalf("%+v, want TIMEOUT", r)
	}
	if p.PID() != pid {
		t.Fatalf("a healthy plugin was restarted: pid %d -> %d", pid, p.PID())
	}
	if r := step(t, other, "x", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("the other instance was disturbed: %+v", r)
	}
	mustReset(t, env)
}

func TestPanicInEnvIsEnvError(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	r := step(t, env, "panic", 5*time.Second)
	if r.Status != gym.StatusEnvError || !r.Truncated || !strings.Contains(fmt.Sprint(r.Observation.Info["error"]), "asked to panic") {
		t.Fatalf("%+v, want ENV_ERROR naming the panic", r)
	}
	// The author gets the panic's stack, down to the env's own line.
	if tb := fmt.Sprint(r.Observation.Info["traceback"]); !strings.Contains(tb, "faulty/main.go:") {
		t.Fatalf("info traceback %q does not reach the env's source", tb)
	}
	mustReset(t, env)
	if r := step(t, env, "a", 5*time.Second); r.Status != gym.StatusOK {
		t.Fatalf("after panic: %+v", r)
	}
}

func TestCorruptBinaryRefused(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	p, _ := h.Plugin("test/faulty-v0")
	f, err := os.OpenFile(p.Manifest().BinaryPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	_, err = h.Make(context.Background(), "test/faulty-v0", nil)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	got, _ := FileSHA256(p.Manifest().BinaryPath())
	if !strings.Contains(err.Error(), p.Manifest().SHA256) || !strings.Contains(err.Error(), got) {
		t.Fatalf("error should print both hashes: %v", err)
	}
	if p.PID() != 0 {
		t.Fatal("a refused plugin is running")
	}
}

func TestBadManifestNamesFileAndField(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"sha256":            `{"name":"x","version":"1","binary":"b","sha256":"abc","envs":["a/b-v0"]}`,
		"envs[0]":           `{"name":"x","version":"1","binary":"b","sha256":"` + strings.Repeat("a", 64) + `","envs":["Bad Id"]}`,
		"name":              `{"name":"","version":"1","binary":"b","sha256":"` + strings.Repeat("a", 64) + `","envs":["a/b-v0"]}`,
		"sandbox.memory_mb": `{"name":"x","version":"1","binary":"b","sha256":"` + strings.Repeat("a", 64) + `","envs":["a/b-v0"],"sandbox":{"memory_mb":-1}}`,
		"unknown field":     `{"name":"x","version":"1","binary":"b","sha256":"` + strings.Repeat("a", 64) + `","envs":["a/b-v0"],"colour":"red"}`,
	}
	for field, body := range cases {
		sub := filepath.Join(dir, strings.NewReplacer("[", "", "]", "", " ", "", ".", "").Replace(field))
		os.MkdirAll(sub, 0o755)
		path := filepath.Join(sub, ManifestFile)
		os.WriteFile(path, []byte(body), 0o644)
		_, err := LoadManifest(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), strings.TrimSuffix(field, " field")) {
			t.Errorf("%s: err = %v, want the file and the field named", field, err)
		}
	}
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	if len(h.Problems) != len(cases) {
		t.Errorf("discover reported %d problems, want %d", len(h.Problems), len(cases))
	}
}

func TestSandboxNetwork(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty")
	env := mustMake(t, h, "test/faulty-v0")
	mustReset(t, env)
	r := step(t, env, "net", 5*time.Second)
	if r.Observation.Text != "up=lo route=no loopback=yes" {
		t.Fatalf("sandboxed plugin sees %q, want only loopback, up", r.Observation.Text)
	}
	lim := h.Plugins()[0].Limits()
	if lim.Network {
		t.Fatal("limits report network for a manifest without it")
	}
	if lim.Cgroups {
		pid := h.Plugins()[0].PID()
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if !strings.Contains(string(b), "envgym/faulty-") {
			t.Fatalf("limits say cgroups, but /proc/%d/cgroup is:\n%s", pid, b)
		}
	}
}

func TestHostCloseLeavesNoProcess(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "faulty", "guess")
	a := mustMake(t, h, "test/faulty-v0")
	b := mustMake(t, h, "example/guess-v0")
	mustReset(t, a)
	mustReset(t, b)
	var pids []int
	for _, p := range h.Plugins() {
		pids = append(pids, p.PID())
	}
	h.Close()
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("plugin %d survived host Close", pid)
		}
	}
	if r := step(t, a, "x", 5*time.Second); r.Status != gym.StatusCrashed {
		t.Errorf("step on a closed host: %+v, want CRASHED", r)
	}
}

func TestUnknownEnvNamesNearest(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "guess")
	_, err := h.Make(context.Background(), "example/gess-v0", nil)
	if !errors.Is(err, gym.ErrUnknownEnvID) || !strings.Contains(err.Error(), "example/guess-v0") {
		t.Fatalf("err = %v", err)
	}
}

func TestCapabilitiesDiscoveredAcrossPlugin(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "guess")
	env := mustMake(t, h, "example/guess-v0")
	mustReset(t, env)
	if _, ok := gym.Capable[gym.Oracle](env); ok {
		t.Fatal("guess has no oracle, but Capable says it has")
	}
	if _, err := env.OracleAction(context.Background()); !errors.Is(err, gym.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}

	h2 := newHost(t, Config{}, Sandbox{}, "faulty")
	f := mustMake(t, h2, "test/faulty-v0")
	mustReset(t, f)
	if caps := f.Spec().Capabilities; len(caps) != 1 || caps[0] != "ValidActioner" {
		t.Fatalf("Spec().Capabilities = %v, want [ValidActioner]", caps)
	}
	va, ok := gym.Capable[gym.ValidActioner](f)
	if !ok {
		t.Fatal("ValidActioner not discovered across the plugin")
	}
	if acts, err := va.ValidActions(context.Background()); err != nil || len(acts) != 2 {
		t.Fatalf("ValidActions = %v, %v", acts, err)
	}
}

func TestInstallScriptFollowsSymlinkedSDK(t *testing.T) {
	src := t.TempDir()
	sdk := filepath.Join(t.TempDir(), "sdk")
	os.MkdirAll(sdk, 0o755)
	os.WriteFile(filepath.Join(sdk, "lib.py"), []byte("x = 1\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.py"), []byte("print('hi')\n"), 0o644)
	if err := os.Symlink(sdk, filepath.Join(src, "sdk")); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sdk", "lib.py")); err != nil || string(b) != "x = 1\n" {
		t.Fatalf("symlinked folder not copied as files: %q %v", b, err)
	}
	if err := os.Symlink(src, filepath.Join(src, "loop")); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, t.TempDir()); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("symlink cycle: err = %v", err)
	}
}

func TestRemoteEnvPassesConformance(t *testing.T) {
	h := newHost(t, Config{}, Sandbox{}, "guess")
	rep := envtest.Run(context.Background(), func(ctx context.Context) (gym.Env, error) {
		return h.Make(ctx, "example/guess-v0", nil)
	}, envtest.Config{})
	if !rep.OK() {
		t.Fatalf("remote guess env failed conformance: %+v", rep)
	}
}

// Close returns only once the plugin has closed its env: a host stopped
// right after must not cut the env's clean-up short (swe's containers
// outlived their env when Close only dropped the connection).
func TestCloseWaitsForTheEnvsClose(t *testing.T) {
	for _, transport := range []string{TransportSocket, TransportGRPC} {
		t.Run(transport, func(t *testing.T) {
			dir := t.TempDir()
			// The plugin runs as a uid of its own: sandbox.writable
			// mounts the folder writable, its mode still applies.
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			h := newHost(t, Config{Transport: transport}, Sandbox{Writable: []string{dir}}, "faulty")
			env := mustMake(t, h, "test/faulty-v0")
			mustReset(t, env)
			mark := filepath.Join(dir, "closed")
			step(t, env, "closemark "+mark, 10*time.Second)
			if err := env.Close(); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(mark); err != nil || string(b) != "closed\n" {
				t.Fatalf("Close returned before the plugin's env closed: %q %v", b, err)
			}
		})
	}
}
