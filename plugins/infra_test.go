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

	"github.com/envgym/envgym/gym"
)

// familyPlugin is one env family as setup.sh installs it.
type familyPlugin struct {
	name, pkg string // plugin name; Go package, or "" for a script
	script    string // a Python plugin's main.py
	sandbox   Sandbox
	envID     string
	opts      func(t *testing.T) map[string]any
	action    string // a well-formed action for the first state
}

var families = []familyPlugin{
	{name: "text", pkg: "../envs/text/cmd/gym-plugin-text", envID: "text/maze-v0", action: "look"},
	{name: "search", pkg: "../envs/search/cmd/gym-plugin-search", sandbox: Sandbox{MemoryMB: 4096}, envID: "search/fictional-v0", action: `search("river")`},
	{name: "swe", pkg: "../envs/swe/cmd/gym-plugin-swe", sandbox: Sandbox{MemoryMB: 8192, MaxPids: 4096, Root: true, Docker: true},
		envID: "swe/custom-v0", opts: sweTaskFile, action: `view("clamp.go")`},
	{name: "web", pkg: "../envs/web/cmd/gym-plugin-web", sandbox: Sandbox{MemoryMB: 4096, MaxPids: 4096}, envID: "web/click-button-v0", action: "noop()"},
	{name: "gui", pkg: "../envs/gui/cmd/gym-plugin-gui", sandbox: Sandbox{MemoryMB: 4096, MaxPids: 4096}, envID: "gui/desktop-v0", action: "wait()"},
	{name: "guess", pkg: "../examples/guess/cmd/gym-plugin-guess", envID: "example/guess-v0", action: "guess 50"},
	{name: "py-guess", script: "../examples/python/guess/main.py", envID: "example/guess-py-v0", action: "guess 50"},
}

// sweTaskFile writes a one-task custom SWE task set.
func sweTaskFile(t *testing.T) map[string]any {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "clamp"), 0o755)
	os.WriteFile(filepath.Join(dir, "clamp", "go.mod"), []byte("module clamp\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "clamp", "clamp.go"), []byte("package clamp\n\nfunc Clamp(v, hi int) int { return v }\n"), 0o644)
	p := filepath.Join(dir, "tasks.jsonl")
	os.WriteFile(p, []byte(`{"instance_id":"c","repo":"clamp","problem_statement":"clamp","FAIL_TO_PASS":["TestClamp"]}`+"\n"), 0o644)
	return map[string]any{"tasks": p}
}

// TestInfraFailuresTruncateEveryFamily: through the plugin host, an
// infrastructure failure ends the episode (Truncated) for every env
// family: the plugin process killed under an env of each family, and the
// env-reported ENV_ERROR, TIMEOUT and CRASHED that swe and search used to
// leave open.
func TestInfraFailuresTruncateEveryFamily(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, f := range families {
		bin := f.script
		if f.pkg != "" {
			bin = filepath.Join(binDir, "gym-plugin-"+f.name)
			if _, err := os.Stat(bin); err != nil {
				out, err := exec.Command("go", "build", "-o", bin, f.pkg).CombinedOutput()
				if err != nil {
					t.Fatalf("build the %s plugin: %v\n%s", f.name, err, out)
				}
			}
		}
		if _, err := Install(ctx, bin, dir, InstallOptions{Name: f.name, Sandbox: f.sandbox}); err != nil {
			t.Fatalf("install %s: %v", f.name, err)
		}
	}
	if _, err := Install(ctx, filepath.Join(binDir, "gym-plugin-faulty"), dir, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Dir: dir})
	if len(h.Problems) > 0 {
		t.Fatalf("discover: %v", h.Problems)
	}
	defer h.Close()
	reg := gym.NewRegistry()
	if err := h.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		t.Run(f.name+"/plugin-killed", func(t *testing.T) {
			var opts map[string]any
			if f.opts != nil {
				opts = f.opts(t)
			}
			env, err := reg.Make(ctx, f.envID, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
				t.Fatal(err)
			}
			p, _ := h.Plugin(f.envID)
			if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			r, err := env.Step(ctx, f.action)
			if err != nil || r.Status != gym.StatusCrashed || !r.Truncated {
				t.Fatalf("step after the plugin died: %s truncated=%v err=%v: %s", r.Status, r.Truncated, err, r.Observation.Text)
			}
			if _, err := env.Step(ctx, f.action); !errors.Is(err, gym.ErrEpisodeDone) {
				t.Fatalf("step after the failure: err = %v, want ErrEpisodeDone", err)
			}
		})
	}
	for _, st := range []gym.Status{gym.StatusEnvError, gym.StatusTimeout, gym.StatusCrashed} {
		t.Run("env-reported/"+st.String(), func(t *testing.T) {
			env, err := reg.Make(ctx, "test/faulty-v0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			env.Reset(ctx, gym.ResetOptions{})
			r, err := env.Step(ctx, fmt.Sprintf("fail %s", st))
			if err != nil || r.Status != st || !r.Truncated || !strings.Contains(r.Observation.Text, "failed") {
				t.Fatalf("%s the env left open: %+v, %v; want it truncated", st, r, err)
			}
		})
	}
}
