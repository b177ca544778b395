package envtest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
	"github.com/envgym/envgym/sdk/envtest/internal/broken"
)

func TestSuiteCatchesBrokenEnvs(t *testing.T) {
	reg := gym.NewRegistry()
	if err := broken.Register(reg); err != nil {
		t.Fatal(err)
	}
	for id, wantFailed := range map[string]string{
		"test/nondeterministic-v0": "determinism",
		"test/leaky-v0":            "close_releases",
		"test/panicky-v0":          "invalid_actions",
	} {
		t.Run(id, func(t *testing.T) {
			rep := envtest.Run(context.Background(), func(ctx context.Context) (gym.Env, error) { return reg.Make(ctx, id, nil) }, envtest.Config{})
			if rep.OK() {
				t.Fatalf("suite passed a broken env: %+v", rep)
			}
			if !slices.Contains(rep.Failed(), wantFailed) {
				t.Fatalf("failed checks %v, want %s among them", rep.Failed(), wantFailed)
			}
			for _, c := range rep.Checks {
				if !c.Passed && c.Detail == "" {
					t.Errorf("check %s failed without saying why", c.Name)
				}
			}
		})
	}
}
