package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/plugins"
)

// binDir holds the gym binary and the plugins built by TestMain;
// pluginDir the plugins installed with `gym plugin install`.
var binDir, pluginDir string

// TestMain builds the real binaries once and installs the plugins the
// way a user would, so the tests exercise the CLI end to end.
func TestMain(m *testing.M) {
	// runInProcess plays envs from this test binary: like gym's main, it
	// must be able to act as a plugin's sandbox init.
	plugins.SandboxInitMain()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gym-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir, pluginDir = filepath.Join(tmp, "bin"), filepath.Join(tmp, "plugins")
	// -s -w: no symbol tables or DWARF, so the five links are quicker.
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", binDir+string(filepath.Separator),
		"github.com/envgym/envgym/cmd/gym",
		"github.com/envgym/envgym/cmd/gym-sandbox-init", // beside gym, as setup.sh builds it: plugins start without loading libtorch
		"github.com/envgym/envgym/envs/text/cmd/gym-plugin-text",
		"github.com/envgym/envgym/examples/guess/cmd/gym-plugin-guess",
		"github.com/envgym/envgym/internal/benchenv/cmd/gym-plugin-bench",
		"./testdata/brokenplugin",
	)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	for _, p := range []string{"text", "guess", "bench"} {
		out, err := exec.Command(filepath.Join(binDir, "gym"), "--plugin-dir", pluginDir,
			"plugin", "install", filepath.Join(binDir, "gym-plugin-"+p)).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "install %s: %v\n%s", p, err, out)
			return 1
		}
	}
	code := m.Run()
	if left := pluginProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "plugin processes left behind: %v\n", left)
		return 1
	}
	return code
}

// result is what one run of the gym binary did.
type result struct {
	stdout, stderr string
	code           int
}

// runGym runs the binary with the test plugin directory.
func runGym(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "gym"), append([]string{"--plugin-dir", pluginDir}, args...)...)
	cmd.Env = append(os.Environ(), "GYM_PLUGIN_DIR=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("gym %v: %v", args, err)
	}
	return r
}

// mustGym is runGym that fails the test on a non-zero exit.
func mustGym(t *testing.T, args ...string) result {
	t.Helper()
	r := runGym(t, "", args...)
	if r.code != 0 {
		t.Fatalf("gym %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, s)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value on stdout:\n%s", s)
	}
	return v
}

// pluginProcesses lists live processes whose executable lies in the
// test's plugin directories.
func pluginProcesses() []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, pluginDir) || strings.Contains(exe, "gym-check-") || strings.Contains(exe, "gym-bench-") {
			out = append(out, e.Name()+" "+exe)
		}
	}
	return out
}

func TestHelpTeaches(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"gym plugin install", "gym run text/maze-v0", "--plugin-dir", "GYM_PLUGIN_DIR"}},
		{[]string{"run", "--help"}, []string{"infra_failures", "excluded", "--policy", "Examples:"}},
		{[]string{"check", "--help"}, []string{"determinism", "exit code"}},
		{[]string{"bench", "plugin", "--help"}, []string{"overhead_p50_us", "steps_per_s_8"}},
		{[]string{"bench", "--help"}, []string{"plugin", "web", "search"}},
	} {
		r := mustGym(t, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("gym %s: help lacks %q", strings.Join(tc.args, " "), w)
			}
		}
	}
}

func TestList(t *testing.T) {
	entries := decode[[]listEntry](t, mustGym(t, "list", "--json").stdout)
	byID := map[string]listEntry{}
	for _, e := range entries {
		byID[e.EnvID] = e
	}
	maze, ok := byID["text/maze-v0"]
	if !ok {
		t.Fatalf("text/maze-v0 not listed: %+v", entries)
	}
	var tasks []string
	for _, task := range maze.Tasks {
		tasks = append(tasks, task.ID)
	}
	if got := strings.Join(tasks, ","); got != "easy,medium,hard" {
		t.Errorf("maze tasks = %s", got)
	}
	if maze.Plugin != "text" || len(maze.PluginSHA256) != 64 || maze.Version == "" || maze.Error != "" {
		t.Errorf("maze entry: %+v", maze)
	}
	if maze.Sandbox.MemoryMB <= 0 || maze.Sandbox.MaxPids <= 0 || !maze.Sandbox.ProcessGroup {
		t.Errorf("maze sandbox: %+v", maze.Sandbox)
	}
	for _, id := range []string{"text/corridor-v0", "example/guess-v0", "bench/echo-v0"} {
		if _, ok := byID[id]; !ok {
			t.Errorf("%s not listed", id)
		}
	}
	table := mustGym(t, "list").stdout
	if !strings.Contains(table, "text/maze-v0") || !strings.Contains(table, "easy,medium,hard") {
		t.Errorf("table:\n%s", table)
	}
}

func TestListWarnsAboutBadManifests(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad", "plugin.json"), []byte(`{"name":"bad"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runGym(t, "", "--plugin-dir", dir, "list", "--json") // the later flag wins
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "version") {
		t.Errorf("stderr does not name the bad field: %s", r.stderr)
	}
}

func TestRunOracleRecords(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs", "maze.jsonl")
	r := mustGym(t, "run", "text/maze-v0", "--policy", "oracle", "--episodes", "6", "--seed", "10", "--json", "--out", out)
	s := decode[runSummary](t, r.stdout)
	if s.Episodes != 6 || s.SuccessRate != 1 || s.InfraFailures != 0 || s.Policy != "oracle" || s.EnvID != "text/maze-v0" || s.Out != out {
		t.Fatalf("summary: %+v", s)
	}
	for _, p := range []string{out, trajectory.ManifestPath(out)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !json.Valid([]byte(line)) {
				t.Fatalf("%s line %d is not JSON: %q", p, i+1, line)
			}
		}
	}
	steps, err := trajectory.ReadSteps(out)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6 {
		t.Fatalf("%d manifests, want 6", len(ms))
	}
	total, counted := 0, 0
	tasks := []string{"easy", "medium", "hard"}
	for i, m := range ms {
		total += m.Steps
		if m.PluginSHA256 == "" || m.EnvVersion == "" || m.Policy != "oracle" || !m.Success {
			t.Errorf("manifest %d: %+v", i, m)
		}
		if m.Seed != int64(10+i) || m.TaskID != tasks[i%3] {
			t.Errorf("manifest %d: seed %d task %q, want seed %d task %q", i, m.Seed, m.TaskID, 10+i, tasks[i%3])
		}
		for _, n := range m.StatusCounts {
			counted += n
		}
	}
	if len(steps) != total || counted != total {
		t.Errorf("%d step lines, manifests say %d steps (%d by status)", len(steps), total, counted)
	}
	if s.MeanSteps != float64(total)/6 || s.StatusCounts["OK"] != total {
		t.Errorf("summary mean_steps %v status_counts %v, want %v and OK=%d", s.MeanSteps, s.StatusCounts, float64(total)/6, total)
	}
}

func TestRunRandomIsSeeded(t *testing.T) {
	args := []string{"run", "text/corridor-v0", "--task", "easy", "--policy", "random", "--episodes", "3", "--seed", "7", "--json"}
	a := decode[runSummary](t, mustGym(t, args...).stdout)
	b := decode[runSummary](t, mustGym(t, args...).stdout)
	if a.Episodes != 3 || a.MeanSteps <= 0 {
		t.Fatalf("summary: %+v", a)
	}
	if a.MeanSteps != b.MeanSteps || a.MeanReward != b.MeanReward {
		t.Errorf("same seed, different runs: %+v vs %+v", a, b)
	}
	table := mustGym(t, "run", "text/maze-v0", "--policy", "random", "--max-steps", "5").stdout
	if !strings.Contains(table, "mean steps") || !strings.Contains(table, "5.0") {
		t.Errorf("table:\n%s", table)
	}
}

func TestRunHuman(t *testing.T) {
	// The guess env has no valid actions; a person types them. Ten
	// guesses end the episode either way.
	r := runGym(t, strings.Repeat("guess 50\n", 10), "run", "example/guess-v0", "--policy", "human")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "I picked a number") || !strings.Contains(r.stdout, "episodes") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = runGym(t, "1\n", "run", "text/maze-v0", "--policy", "human")
	if r.code == 0 || !strings.Contains(r.stderr, "stdin closed") || !strings.Contains(r.stdout, "1) ") {
		t.Errorf("EOF on stdin: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown env", []string{"run", "text/maze-v1"}, "text/maze-v0"},
		{"unknown task", []string{"run", "text/maze-v0", "--task", "esy"}, `did you mean easy`},
		{"no oracle", []string{"run", "example/guess-v0", "--policy", "oracle"}, "has no oracle"},
		{"no valid actions", []string{"run", "example/guess-v0", "--policy", "random"}, "lists no valid actions"},
		{"bad policy", []string{"run", "text/maze-v0", "--policy", "greedy"}, "random, oracle, human"},
		{"no episodes", []string{"run", "text/maze-v0", "--episodes", "0"}, "at least 1"},
		{"options not JSON", []string{"run", "text/maze-v0", "--options", "{bad"}, "--options: want a JSON object"},
		{"option the env refuses", []string{"run", "text/maze-v0", "--options", `{"colour":"blue"}`}, "colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runGym(t, "", tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "gym"), "--plugin-dir", pluginDir,
		"run", "text/maze-v0", "--task", "hard", "--policy", "random", "--episodes", "1000000", "--json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once episodes are under way: the plugin has started (on a
	// loaded machine that can take longer than any fixed sleep).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		started := false
		for _, p := range pluginProcesses() {
			started = started || strings.Contains(p, pluginDir)
		}
		if started || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit: %v, want code 130\n%s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("gym run did not stop within 10s of SIGINT")
	}
	s := decode[runSummary](t, out.String()) // the episodes finished so far
	if s.Episodes == 0 {
		t.Errorf("no episodes before the interrupt: %+v", s)
	}
	if left := pluginProcesses(); len(left) > 0 {
		t.Errorf("plugin processes left after SIGINT: %v", left)
	}
}

func TestCheck(t *testing.T) {
	r := mustGym(t, "check", filepath.Join(binDir, "gym-plugin-text"), filepath.Join(binDir, "gym-plugin-guess"), "--json")
	reports := decode[[]checkReport](t, r.stdout)
	envs := map[string]bool{}
	for _, rep := range reports {
		envs[rep.EnvID] = true
		if !rep.OK || len(rep.Checks) == 0 {
			t.Errorf("%s: %+v", rep.EnvID, rep.Checks)
		}
	}
	for _, id := range []string{"text/maze-v0", "text/corridor-v0", "example/guess-v0"} {
		if !envs[id] {
			t.Errorf("%s not checked", id)
		}
	}
}

func TestCheckFailsOnBrokenEnv(t *testing.T) {
	r := runGym(t, "", "check", filepath.Join(binDir, "brokenplugin"))
	if r.code == 0 {
		t.Fatalf("check passed a broken env:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stderr, "determinism") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if r := runGym(t, "", "check", filepath.Join(binDir, "no-such-plugin")); r.code == 0 {
		t.Error("check of a missing binary succeeded")
	}
}

func TestBenchPlugin(t *testing.T) {
	r := mustGym(t, "bench", "plugin", "--json", "--steps", "300", "--duration", "150ms")
	var got map[string]float64
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	keys := []string{"inproc_p50_us", "inproc_p99_us", "plugin_p50_us", "plugin_p99_us", "overhead_p50_us", "steps_per_s_1", "steps_per_s_8"}
	if len(got) != len(keys) {
		t.Errorf("keys %v, want exactly %v", got, keys)
	}
	for _, k := range keys {
		if v, ok := got[k]; !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want a positive number", k, v, ok)
		}
	}
	t.Logf("bench plugin (tiny run): %v", got)
}

func TestBenchPluginBesideBinary(t *testing.T) {
	// No bench plugin installed: the one next to the gym binary is used.
	r := mustGym(t, "--plugin-dir", t.TempDir(), "bench", "plugin", "--steps", "100", "--duration", "50ms")
	if !strings.Contains(r.stdout, "overhead") {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestPluginInstallJSON(t *testing.T) {
	dir := t.TempDir()
	r := mustGym(t, "--plugin-dir", dir, "plugin", "install", filepath.Join(binDir, "gym-plugin-guess"),
		"--name", "myguess", "--memory-mb", "512", "--max-pids", "64", "--network", "--json")
	m := decode[installed](t, r.stdout)
	if m.Name != "myguess" || len(m.SHA256) != 64 || len(m.Envs) != 1 || m.Envs[0] != "example/guess-v0" ||
		m.Sandbox.MemoryMB != 512 || m.Sandbox.MaxPids != 64 || !m.Sandbox.Network {
		t.Errorf("manifest: %+v", m)
	}
	if m.ManifestPath != filepath.Join(dir, "myguess", "plugin.json") {
		t.Errorf("manifest path %s", m.ManifestPath)
	}
	if _, err := os.Stat(m.ManifestPath); err != nil {
		t.Error(err)
	}
}
