package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym/trajectory"
)

func TestReplayReproducesAndCatchesTampering(t *testing.T) {
	out := filepath.Join(t.TempDir(), "maze.jsonl")
	mustGym(t, "run", "text/maze-v0", "--policy", "oracle", "--episodes", "3", "--out", out)
	rep := decode[replayReport](t, mustGym(t, "replay", out, "--json").stdout)
	if rep.Episodes != 3 || rep.Identical != 3 || len(rep.Mismatches) != 0 || rep.Steps == 0 {
		t.Fatalf("replay of oracle episodes: %+v", rep)
	}
	b, _ := os.ReadFile(out)
	lines := strings.SplitN(string(b), "\n", 3)
	lines[1] = strings.Replace(lines[1], `"reward":`, `"reward":7,"x":`, 1)
	os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644)
	r := runGym(t, "", "replay", out, "--json")
	if r.code != 1 {
		t.Fatalf("tampered recording: exit %d, want 1\n%s", r.code, r.stderr)
	}
	rep = decode[replayReport](t, r.stdout)
	if len(rep.Mismatches) != 1 || rep.Mismatches[0].Field != "reward" || rep.Mismatches[0].Step != 1 {
		t.Fatalf("mismatches: %+v", rep.Mismatches)
	}

	// A changed env: the same recording against another world (the seed
	// of the second episode moved) differs from its reset on.
	out2 := filepath.Join(t.TempDir(), "maze.jsonl")
	mustGym(t, "run", "text/maze-v0", "--policy", "oracle", "--episodes", "2", "--seed", "10", "--out", out2)
	mb, _ := os.ReadFile(trajectory.ManifestPath(out2))
	ml := strings.Split(string(mb), "\n")
	ml[1] = strings.Replace(ml[1], `"seed":11`, `"seed":12`, 1)
	os.WriteFile(trajectory.ManifestPath(out2), []byte(strings.Join(ml, "\n")), 0o644)
	r = runGym(t, "", "replay", out2, "--json")
	rep = decode[replayReport](t, r.stdout)
	if r.code != 1 || rep.Identical != 1 || len(rep.Mismatches) == 0 || rep.Mismatches[0].Step != -1 || rep.Mismatches[0].Field != "obs" {
		t.Fatalf("changed env: exit %d, %+v", r.code, rep)
	}
}

func TestChangedComponents(t *testing.T) {
	got := changedComponents(map[string]string{"chromium": "156", "corpus": "abc", "plugin_sha256": "x", "gone": "1"},
		map[string]string{"chromium": "157", "corpus": "abc", "plugin_sha256": "y"})
	if len(got) != 1 || !strings.HasPrefix(got[0], "chromium 156 -> 157") {
		t.Fatalf("changed components: %q", got)
	}
}

func TestDoctorJSON(t *testing.T) {
	checks := decode[[]doctorCheck](t, mustGym(t, "doctor", "--json").stdout)
	names := map[string]bool{}
	for _, c := range checks {
		names[c.Name] = true
		if !c.OK && c.Fix == "" {
			t.Errorf("failing check %s has no fix", c.Name)
		}
	}
	for _, n := range []string{"chromium", "docker engine", "cgroups v1 memory+pids", "plugin file isolation", "libtorch", "xvfb", "plugins"} {
		if !names[n] {
			t.Errorf("doctor lacks check %q", n)
		}
	}
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "gym"), "--plugin-dir", pluginDir, "serve", "--http", "127.0.0.1:0", "--stream", "127.0.0.1:0", "--drain", "1s")
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "env ids from") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(errb.String(), "draining") || !strings.Contains(errb.String(), "stopped") {
			t.Fatalf("exit %v, stderr:\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("gym serve did not stop on SIGTERM:\n%s", errb.String())
	}
}

func TestBenchAnyPluginPythonBesideGo(t *testing.T) {
	script, _ := filepath.Abs("../../examples/python/guess/main.py")
	res := decode[benchAnyResult](t, mustGym(t, "bench", "plugin", "--plugin", script, "--steps", "200", "--duration", "200ms", "--json").stdout)
	if res.EnvID != "example/guess-py-v0" || res.PluginP50US <= 0 || res.StepsPerS1 <= 0 || res.StepsPerS8 <= 0 {
		t.Fatalf("python plugin bench: %+v", res)
	}
	if res.Reference == nil || res.Reference.EnvID != "text/maze-v0" || res.Reference.PluginP50US <= 0 {
		t.Fatalf("no Go text env reference: %+v", res.Reference)
	}
}
