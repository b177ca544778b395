package envtest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

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

// check finds a check of a report by name.
func check(t *testing.T, rep envtest.Report, name string) envtest.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, rep)
	return envtest.Check{}
}

func runBroken(t *testing.T, id string, cfg envtest.Config) envtest.Report {
	t.Helper()
	reg := gym.NewRegistry()
	if err := broken.Register(reg); err != nil {
		t.Fatal(err)
	}
	return envtest.Run(context.Background(), func(ctx context.Context) (gym.Env, error) { return reg.Make(ctx, id, nil) }, cfg)
}

// Each trap a newcomer falls into gives one message that names the cause
// and the fix.
func TestSuiteNamesTheCause(t *testing.T) {
	t.Run("seed ignored", func(t *testing.T) {
		rep := runBroken(t, "test/seedignored-v0", envtest.Config{})
		c := check(t, rep, "seed_sensitivity")
		if c.Passed || !strings.Contains(c.Detail, "ignores ResetOptions.Seed") || !strings.Contains(c.Detail, "SeedFree") {
			t.Fatalf("seed_sensitivity: %+v", c)
		}
		if slices.Contains(rep.Failed(), "determinism") {
			t.Fatalf("a deterministic env failed determinism: %v", rep.Failed())
		}
	})
	t.Run("clock seeded", func(t *testing.T) {
		rep := runBroken(t, "test/clockseeded-v0", envtest.Config{})
		if got := rep.Failed(); !slices.Equal(got, []string{"determinism"}) {
			t.Fatalf("failed %v, want only determinism (one cause, one failure)", got)
		}
		if c := check(t, rep, "determinism"); !strings.Contains(c.Detail, "the reset depends on something besides the seed") || !strings.Contains(c.Detail, "the clock") {
			t.Fatalf("determinism: %q", c.Detail)
		}
		for _, name := range []string{"reset_isolation", "concurrent_instances"} {
			if c := check(t, rep, name); !strings.Contains(c.Warning, "not judged") {
				t.Errorf("%s: %+v, want 'not judged' pointing at determinism", name, c)
			}
		}
	})
	t.Run("no MaxSteps", func(t *testing.T) {
		rep := runBroken(t, "test/nolimit-v0", envtest.Config{})
		c := check(t, rep, "spec")
		if !c.Passed || !strings.Contains(c.Warning, "MaxSteps is 0") {
			t.Fatalf("spec: %+v, want a pass with a MaxSteps warning", c)
		}
	})
	t.Run("oracle", func(t *testing.T) {
		if c := check(t, runBroken(t, "test/counter-v0", envtest.Config{Oracle: true}), "oracle_solves"); !c.Passed {
			t.Fatalf("a working oracle: %+v", c)
		}
		c := check(t, runBroken(t, "test/badoracle-v0", envtest.Config{Oracle: true}), "oracle_solves")
		if c.Passed || !strings.Contains(c.Detail, "did not solve seed") {
			t.Fatalf("a bad oracle: %+v", c)
		}
		if rep := runBroken(t, "test/counter-v0", envtest.Config{}); slices.ContainsFunc(rep.Checks, func(c envtest.Check) bool { return c.Name == "oracle_solves" }) {
			t.Fatal("oracle_solves ran without Config.Oracle")
		}
	})
	t.Run("hanging step bounded", func(t *testing.T) {
		rep := runBroken(t, "test/hanging-v0", envtest.Config{StepTimeout: 50 * time.Millisecond})
		if c := check(t, rep, "determinism"); c.Passed || !strings.Contains(c.Detail, "deadline") {
			t.Fatalf("determinism of a hanging env: %+v", c)
		}
	})
	t.Run("correct env", func(t *testing.T) {
		rep := runBroken(t, "test/counter-v0", envtest.Config{Oracle: true})
		if !rep.OK() {
			t.Fatalf("the correct counter failed %v: %+v", rep.Failed(), rep)
		}
	})
}
