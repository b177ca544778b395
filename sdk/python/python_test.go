// Package python_test checks the Python SDK (sdk/python/envgym) end to
// end: Python env plugins installed and run by the real host, checked by
// the same conformance suite as Go envs, with broken envs failing the
// check that names their fault.
package python_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
	"github.com/envgym/envgym/sdk/envtest"
)

// python is Debian's interpreter, the one whose python3-grpcio and
// python3-protobuf scripts/setup.sh installs.
const python = "/usr/bin/python3"

// requirePython fails (never skips) when the interpreter or the Debian
// packages the SDK needs are missing: a skipped test would hide that
// Python plugins cannot run on this machine.
func requirePython(t testing.TB) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf").CombinedOutput()
	if err != nil {
		t.Fatalf("Python plugins need %s with Debian's python3-grpcio and python3-protobuf "+
			"(apt-get install python3-grpcio python3-protobuf, or run scripts/setup.sh): %v\n%s", python, err, out)
	}
}

// stage builds a plugin directory the way an author would: the script's
// directory plus the vendored envgym package. It returns the script path.
func stage(t testing.TB, srcDir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(srcDir))
	if err := vendor(srcDir, dst); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "main.py")
}

// vendor copies a plugin's source directory to dst and the envgym
// package into it, as `python3 -m envgym vendor` does.
func vendor(srcDir, dst string) error {
	if err := copyDir(srcDir, dst); err != nil {
		return err
	}
	return copyDir("envgym", filepath.Join(dst, "envgym"))
}

func copyDir(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil // the examples' envgym link: vendor copies the package itself
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// Plugins under test: name → source directory (relative to sdk/python).
var sources = map[string]string{
	"guess-py":         "../../examples/python/guess",
	"arithmetic-py":    "../../examples/python/gymadapter",
	"nondeterministic": "tests/broken/nondeterministic",
	"raising":          "tests/broken/raising",
	"hanging":          "tests/broken/hanging",
	"seedignored":      "tests/broken/seedignored",
	"counter":          "tests/capable",
}

var (
	installOnce sync.Once
	pluginDir   string
	installErr  error
)

// installed installs every plugin of sources once per test binary into a
// shared plugin directory (installing starts each plugin once).
func installed(t *testing.T) string {
	t.Helper()
	requirePython(t)
	installOnce.Do(func() {
		dir, err := os.MkdirTemp("", "envgym-python-plugins")
		if err != nil {
			installErr = err
			return
		}
		pluginDir = dir
		names := make([]string, 0, len(sources))
		for n := range sources {
			names = append(names, n)
		}
		sort.Strings(names)
		var wg sync.WaitGroup
		errs := make([]error, len(names))
		for i, n := range names {
			script := filepath.Join(dir, "src", n, "main.py")
			if errs[i] = vendor(sources[n], filepath.Dir(script)); errs[i] != nil {
				continue
			}
			wg.Go(func() {
				_, errs[i] = plugins.Install(context.Background(), script, dir, plugins.InstallOptions{Name: n, Interpreter: []string{python}})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && installErr == nil {
				installErr = fmt.Errorf("install %s: %w", names[i], err)
			}
		}
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
	return pluginDir
}

func TestMain(m *testing.M) {
	plugins.SandboxInitMain() // the host in this test binary re-executes it as a plugin's sandbox init
	code := m.Run()
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func newHost(t *testing.T, cfg plugins.Config) *plugins.Host {
	t.Helper()
	cfg.Dir = installed(t)
	h := plugins.New(cfg)
	if len(h.Problems) > 0 {
		t.Fatalf("discover: %v", h.Problems)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// check runs the conformance suite on env id as `gym check` does: the
// leak check watches this process and the plugin's open files.
func check(t *testing.T, h *plugins.Host, ctx context.Context, id string) envtest.Report {
	t.Helper()
	p, ok := h.Plugin(id)
	if !ok {
		t.Fatalf("no plugin serves %s", id)
	}
	newEnv := func(ctx context.Context) (gym.Env, error) { return h.Make(ctx, id, nil) }
	probe := func() envtest.ProcessStats {
		s := envtest.SelfStats()
		if pid := p.PID(); pid > 0 {
			ps := envtest.PIDStats(pid)
			s.OpenFiles += ps.OpenFiles
			s.Children += ps.Children
		}
		return s
	}
	return envtest.Run(ctx, newEnv, envtest.Config{Probe: probe})
}

func TestExamplesPassConformance(t *testing.T) {
	for _, tr := range []string{plugins.TransportSocket, plugins.TransportGRPC} {
		h := newHost(t, plugins.Config{Transport: tr})
		for _, id := range []string{"example/guess-py-v0", "example/arithmetic-py-v0", "test/counter-py-v0"} {
			t.Run(tr+"/"+id, func(t *testing.T) {
				rep := check(t, h, context.Background(), id)
				for _, c := range rep.Checks {
					if !c.Passed {
						t.Errorf("%s: check %s failed: %s", id, c.Name, c.Detail)
					}
				}
				if !rep.OK() {
					t.Fatalf("%s: conformance failed: %v", id, rep.Failed())
				}
			})
		}
	}
}

// TestCapabilities drives every part of the SDK through the host: spec,
// options, tasks, info, valid actions, snapshot/restore, render,
// screenshot, the step limit and contract errors.
func TestCapabilities(t *testing.T) {
	h := newHost(t, plugins.Config{})
	ctx := context.Background()
	env, err := h.Make(ctx, "test/counter-py-v0", map[string]any{"step": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	sp := env.Spec()
	if sp.Version != "0.2.0" || sp.MaxSteps != 6 || !sp.Deterministic || len(sp.Tasks) != 2 || sp.Tasks[0].Description != "reach start+3" ||
		sp.Components["python"] != "3" || sp.Components["plugin"] != "counter" {
		t.Fatalf("spec: %+v", sp)
	}
	if want := []string{"Renderer", "Screenshotter", "Snapshotter", "ValidActioner"}; !slices.Equal(gym.Capabilities(env), want) {
		t.Fatalf("capabilities %v, want %v", gym.Capabilities(env), want)
	}
	if _, err := env.Step(ctx, "inc"); !errors.Is(err, gym.ErrNotReset) {
		t.Fatalf("step before reset: %v, want ErrNotReset", err)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{TaskID: "sideways"}); !errors.Is(err, gym.ErrUnknownTask) {
		t.Fatalf("unknown task: %v, want ErrUnknownTask", err)
	}
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 4, TaskID: "down", Options: map[string]any{"start": 10}})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Text != "n=10, target=4" || obs.Info["target"] != 4.0 || !slices.Equal(obs.ValidActions, []string{"inc", "dec"}) {
		t.Fatalf("reset: %+v", obs)
	}
	mustStep := func(action string) gym.StepResult {
		t.Helper()
		r, err := env.Step(ctx, action)
		if err != nil {
			t.Fatalf("step %q: %v", action, err)
		}
		return r
	}
	if r := mustStep("dec"); r.Observation.Text != "n=8, target=4" || r.Observation.Info["n"] != 8.0 || r.Status != gym.StatusOK {
		t.Fatalf("dec: %+v", r)
	}
	snap, ok := gym.Capable[gym.Snapshotter](env)
	if !ok {
		t.Fatal("not a Snapshotter")
	}
	frozen, err := snap.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustStep("dec")
	if obs, err := snap.Restore(ctx, frozen); err != nil || obs.Text != "n=8, target=4" {
		t.Fatalf("restore: %q %v", obs.Text, err)
	}
	if text, err := env.(gym.Renderer).Render(ctx); err != nil || text != "[########]" {
		t.Fatalf("render: %q %v", text, err)
	}
	if png, err := env.(gym.Screenshotter).Screenshot(ctx); err != nil || len(png) != 264 || png[0] != 0x89 || png[263] != 255 {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	if acts, err := env.(gym.ValidActioner).ValidActions(ctx); err != nil || len(acts) != 2 {
		t.Fatalf("valid actions: %v %v", acts, err)
	}
	if _, ok := gym.Capable[gym.Oracle](env); ok {
		t.Fatal("the env has no oracle_action, yet the host sees an Oracle")
	}
	mustStep("dec")
	if r := mustStep("dec"); !r.Terminated || r.Reward != 1 {
		t.Fatalf("reaching the target: %+v", r)
	}
	if _, err := env.Step(ctx, "dec"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Fatalf("step after done: %v, want ErrEpisodeDone", err)
	}
	// The SDK truncates at Spec.max_steps, invalid actions included.
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 0, TaskID: "up"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		r := mustStep("jump")
		if r.Status != gym.StatusInvalidAction || r.Truncated != (i == 6) || !strings.HasPrefix(r.Observation.Text, "Invalid action: ") {
			t.Fatalf("invalid step %d: %+v", i, r)
		}
	}
}

func TestBrokenEnvsFailNamingTheCheck(t *testing.T) {
	h := newHost(t, plugins.Config{})
	for _, tc := range []struct {
		id, check string
		says      string // the cause, in the failed check's detail
	}{
		{"broken/nondeterministic-py-v0", "determinism", "the reset depends on something besides the seed"},
		{"broken/raising-py-v0", "invalid_actions", ""},
		{"broken/seedignored-py-v0", "seed_sensitivity", "ignores ResetOptions.Seed"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			rep := check(t, h, context.Background(), tc.id)
			for _, c := range rep.Checks {
				t.Logf("%s %v %.200s", c.Name, c.Passed, c.Detail)
			}
			if !slices.Contains(rep.Failed(), tc.check) {
				t.Fatalf("%s: want check %q to fail, failed: %v\n%+v", tc.id, tc.check, rep.Failed(), rep.Checks)
			}
			for _, c := range rep.Checks {
				if c.Name == tc.check && !strings.Contains(c.Detail, tc.says) {
					t.Errorf("%s: %s says %q, want the cause %q", tc.id, c.Name, c.Detail, tc.says)
				}
			}
		})
	}
}

func TestExceptionInStepIsEnvErrorWithTraceback(t *testing.T) {
	h := newHost(t, plugins.Config{})
	ctx := context.Background()
	env, err := h.Make(ctx, "broken/raising-py-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	p, _ := h.Plugin("broken/raising-py-v0")
	for round := 0; round < 2; round++ {
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
			t.Fatal(err)
		}
		pid := p.PID()
		r, err := env.Step(ctx, "boom")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != gym.StatusEnvError || !r.Truncated {
			t.Fatalf("step raising: status %v truncated %v, want ENV_ERROR and truncated", r.Status, r.Truncated)
		}
		tb, _ := r.Observation.Info["traceback"].(string)
		if !strings.Contains(tb, "RuntimeError: boom") || !strings.Contains(tb, "main.py") {
			t.Fatalf("info.traceback should hold the Python traceback, got info %v", r.Observation.Info)
		}
		if !strings.Contains(r.Observation.Text, "boom") {
			t.Fatalf("observation should say what failed: %q", r.Observation.Text)
		}
		if p.PID() != pid || p.Restarts() != 0 {
			t.Fatalf("the plugin died on an exception (pid %d → %d, restarts %d)", pid, p.PID(), p.Restarts())
		}
	}
}

func TestHangingStepTimesOut(t *testing.T) {
	h := newHost(t, plugins.Config{})
	env, err := h.Make(context.Background(), "broken/hanging-py-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(context.Background(), gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := env.Step(ctx, "wait")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != gym.StatusTimeout || !r.Truncated {
		t.Fatalf("hanging step: status %v truncated %v, want TIMEOUT and truncated: %s", r.Status, r.Truncated, r.Observation.Text)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("hanging step took %v to time out with a 500ms deadline", d)
	}
	// The suite itself, under a deadline, names the first check that plays.
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	rep := check(t, h, cctx, "broken/hanging-py-v0")
	if !slices.Contains(rep.Failed(), "determinism") {
		t.Fatalf("want check determinism to fail on a hanging env, failed: %v", rep.Failed())
	}
	// One hung instance does not take the plugin down.
	other, err := h.Make(context.Background(), "broken/hanging-py-v0", nil)
	if err != nil {
		t.Fatalf("make after a hung step: %v", err)
	}
	defer other.Close()
	if _, err := other.Reset(context.Background(), gym.ResetOptions{Seed: 2}); err != nil {
		t.Fatalf("reset after a hung step: %v", err)
	}
}

func TestKillMidEpisodeIsCrashedThenRestarts(t *testing.T) {
	h := newHost(t, plugins.Config{HealthInterval: -1})
	ctx := context.Background()
	env, err := h.Make(ctx, "example/guess-py-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if r, err := env.Step(ctx, "guess 50"); err != nil || r.Status.Infra() {
		t.Fatalf("first step: %v %v", r.Status, err)
	}
	p, _ := h.Plugin("example/guess-py-v0")
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r, err := env.Step(ctx, "guess 25")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != gym.StatusCrashed || !r.Truncated {
		t.Fatalf("step after kill -9: status %v truncated %v, want CRASHED: %s", r.Status, r.Truncated, r.Observation.Text)
	}
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 3})
	if err != nil {
		t.Fatalf("reset after crash: %v", err)
	}
	if !strings.Contains(obs.Text, "Guess it") {
		t.Fatalf("reset after crash: %q", obs.Text)
	}
	if r, err := env.Step(ctx, "guess 50"); err != nil || r.Status.Infra() {
		t.Fatalf("step after restart: %v %v", r.Status, err)
	}
	if p.PID() == pid || p.Restarts() != 1 {
		t.Fatalf("want a new process: pid %d → %d, restarts %d", pid, p.PID(), p.Restarts())
	}
}

func TestSyntaxErrorNamesFileAndLine(t *testing.T) {
	requirePython(t)
	script := stage(t, "tests/broken/syntax")
	_, err := plugins.Install(context.Background(), script, t.TempDir(), plugins.InstallOptions{Interpreter: []string{python}})
	if err == nil {
		t.Fatal("install of a plugin with a syntax error succeeded")
	}
	t.Logf("start error: %v", err)
	for _, want := range []string{"main.py", "line 3", "SyntaxError"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error should contain %q:\n%v", want, err)
		}
	}
}

func TestRunByHandSaysItIsAPlugin(t *testing.T) {
	requirePython(t)
	script := stage(t, "../../examples/python/guess")
	cmd := exec.Command(python, script)
	cmd.Env = []string{"PYTHONDONTWRITEBYTECODE=1"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil || len(out) != 0 || !strings.Contains(stderr.String(), "plugin") {
		t.Fatalf("run by hand: err %v, stdout %q, stderr %q", err, out, stderr.String())
	}
}

// TestGeneratedCodeIsCurrent regenerates envgym/_proto from the protos and
// fails when the checked-in code differs (someone changed env.proto).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	requirePython(t)
	if _, err := exec.Command(python, "-c", "import grpc_tools.protoc").CombinedOutput(); err != nil {
		t.Log("python3-grpc-tools not installed: comparing message code only")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "gen.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("protoc"); lerr != nil {
			t.Fatalf("protoc (Debian's protobuf-compiler, installed by scripts/setup.sh) is needed to check envgym/_proto: %v", lerr)
		}
		if _, gerr := exec.Command(python, "-c", "import grpc_tools").CombinedOutput(); gerr != nil {
			// Stubs need python3-grpc-tools, a generation-time tool only;
			// still check the message code, which carries the protocol.
			cmp(t, out, "env_pb2.py")
			return
		}
		t.Fatalf("gen.sh: %v\n%s", err, b)
	}
	ents, err := os.ReadDir("envgym/_proto")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".py") {
			cmp(t, out, e.Name())
		}
	}
}

func cmp(t *testing.T, genDir, name string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(genDir, name))
	if err != nil {
		t.Fatalf("regenerate %s: %v", name, err)
	}
	got, err := os.ReadFile(filepath.Join("envgym/_proto", name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("envgym/_proto/%s is stale: run sdk/python/gen.sh and commit the result", name)
	}
}

// TestStepLatency measures step p50 of the Python guess plugin next to the
// Go guess plugin, under the same host and machine.
func TestStepLatency(t *testing.T) {
	dir := installed(t)
	goDir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "gym-plugin-guess")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/guess/cmd/gym-plugin-guess").CombinedOutput(); err != nil {
		t.Fatalf("build the Go guess plugin: %v\n%s", err, out)
	}
	if _, err := plugins.Install(context.Background(), bin, goDir, plugins.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir, id, transport string }{
		{"go/socket", goDir, "example/guess-v0", plugins.TransportSocket},
		{"python/socket", dir, "example/guess-py-v0", plugins.TransportSocket},
		{"go/grpc", goDir, "example/guess-v0", plugins.TransportGRPC},
		{"python/grpc", dir, "example/guess-py-v0", plugins.TransportGRPC},
	} {
		p50, perSec := measure(t, plugins.Config{Dir: c.dir, Transport: c.transport, HealthInterval: -1}, c.id, 1000)
		t.Logf("%-14s step p50 %6.1fµs  %7.0f steps/s", c.name, p50, perSec)
	}
}

func measure(t *testing.T, cfg plugins.Config, id string, n int) (p50us, perSec float64) {
	t.Helper()
	h := plugins.New(cfg)
	defer h.Close()
	ctx := context.Background()
	env, err := h.Make(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	lat := make([]time.Duration, 0, n)
	var total time.Duration
	for seed := int64(0); len(lat) < n; seed++ {
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: seed}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 9 && len(lat) < n; i++ { // stays below MaxSteps: no truncation
			start := time.Now()
			r, err := env.Step(ctx, "guess 0") // invalid: the episode goes on
			d := time.Since(start)
			if err != nil || r.Status != gym.StatusInvalidAction {
				t.Fatalf("step: %v %v", r.Status, err)
			}
			lat = append(lat, d)
			total += d
		}
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Nanoseconds()) / 1e3, float64(len(lat)) / total.Seconds()
}
