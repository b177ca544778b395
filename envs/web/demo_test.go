package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

// TestDemo writes the README's transcript and screenshot of a real
// episode: WEBGYM_DEMO_DIR=envs/web/docs go test ./envs/web -run TestDemo
func TestDemo(t *testing.T) {
	dir := os.Getenv("WEBGYM_DEMO_DIR")
	if dir == "" {
		t.Skip("set WEBGYM_DEMO_DIR to regenerate the docs")
	}
	ctx := context.Background()
	var b strings.Builder
	for _, id := range []string{"web/choose-date-v0", "web/shop-v0"} {
		e := makeEnv(t, id)
		obs, err := e.Reset(ctx, gym.ResetOptions{Seed: 3, Options: map[string]any{"screenshot": true}})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "$ gym run %s --policy oracle --seed 3\n--- reset\n%s", id, obs.Text)
		o, _ := gym.Capable[gym.Oracle](e)
		for i := 0; i < e.Spec().MaxSteps; i++ {
			a, _ := o.OracleAction(ctx)
			r, err := e.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "--- step %d: %s -> %s reward=%v done=%v\n%s", i+1, a, r.Status, r.Reward, r.Done(), r.Observation.Text)
			name := strings.NewReplacer("/", "-").Replace(id)
			if i == 2 && len(r.Observation.Screenshot) > 0 {
				if err := os.WriteFile(filepath.Join(dir, name+".png"), r.Observation.Screenshot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if r.Done() {
				fmt.Fprintf(&b, "info: %v\n\n", r.Observation.Info)
				break
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
