package plugins

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/envgym/envgym/gym"
)

// TestSpecsOnce: install records each env's full spec, the host registers
// it without starting the plugin (what gym list and serve's /v1/specs
// show), and an instance's spec comes with its Make answer.
func TestSpecsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := Install(ctx, filepath.Join(binDir, "gym-plugin-faulty"), dir, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Specs) != 1 || m.Specs[0].ID != "test/faulty-v0" || !slices.Equal(m.Specs[0].Capabilities, []string{"ValidActioner"}) {
		t.Fatalf("manifest specs %+v, want test/faulty-v0 with the ValidActioner capability probed at install", m.Specs)
	}
	h := New(Config{Dir: dir})
	defer h.Close()
	reg := gym.NewRegistry()
	if err := h.Register(reg); err != nil {
		t.Fatal(err)
	}
	spec, err := reg.Spec("test/faulty-v0")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := h.Plugin("test/faulty-v0")
	if p.PID() != 0 {
		t.Fatal("registering started the plugin")
	}
	if spec.Version != "0.0.1" || len(spec.Capabilities) != 1 || spec.Components["plugin_sha256"] != m.SHA256 {
		t.Fatalf("registered spec %+v, want the installed one with the plugin's components", spec)
	}
	env, err := reg.Make(ctx, "test/faulty-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if got := env.Spec(); got.ID != spec.ID || !slices.Equal(got.Capabilities, spec.Capabilities) || got.Components["plugin"] != "faulty" {
		t.Fatalf("instance spec %+v", got)
	}
}
