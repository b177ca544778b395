package gym_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

// bare is an env as a newcomer writes it: no call-order guard, no step
// counter, no truncation. "win" terminates with reward 1 (without
// info["success"]), "fail" returns an infra status and leaves the episode
// open, anything else is a plain step. It snapshots its position.
type bare struct {
	pos    int
	closes *int
	spec   gym.Spec
}

func (b *bare) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	b.pos = 0
	return gym.Observation{Text: "Goal: win\nat 0"}, nil
}

func (b *bare) Step(_ context.Context, a string) (gym.StepResult, error) {
	b.pos++
	switch a {
	case "win":
		return gym.StepResult{Observation: gym.Observation{Text: "won"}, Reward: 1, Terminated: true}, nil
	case "fail":
		return gym.StepResult{Observation: gym.Observation{Text: "broken"}, Status: gym.StatusEnvError}, nil
	}
	return gym.StepResult{Observation: gym.Observation{Text: "at " + strconv.Itoa(b.pos)}}, nil
}

func (b *bare) Spec() gym.Spec { return b.spec }
func (b *bare) Close() error   { *b.closes++; return nil }

func (b *bare) Snapshot(context.Context) ([]byte, error) { return []byte(strconv.Itoa(b.pos)), nil }
func (b *bare) Restore(_ context.Context, s []byte) (gym.Observation, error) {
	n, err := strconv.Atoi(string(s))
	b.pos = n
	return gym.Observation{Text: "at " + string(s)}, err
}

func makeBare(t *testing.T, spec gym.Spec) (gym.Env, *int) {
	t.Helper()
	closes := new(int)
	r := gym.NewRegistry()
	r.MustRegister(spec, func(context.Context, map[string]any) (gym.Env, error) {
		return &bare{closes: closes, spec: spec}, nil
	})
	env, err := r.Make(context.Background(), spec.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env, closes
}

func TestMakeEnforcesCallOrderAndClose(t *testing.T) {
	ctx := context.Background()
	env, closes := makeBare(t, gym.Spec{ID: "test/bare-v0", Version: "1"})
	if _, err := env.Step(ctx, "x"); !errors.Is(err, gym.ErrNotReset) {
		t.Fatalf("step before reset: err = %v, want ErrNotReset", err)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := env.Step(ctx, "win"); err != nil || !r.Terminated {
		t.Fatalf("win: %+v, %v", r, err)
	}
	if _, err := env.Step(ctx, "x"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Fatalf("step after the end: err = %v, want ErrEpisodeDone", err)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
		t.Fatalf("reset after an episode: %v", err)
	}
	env.Close()
	env.Close()
	if *closes != 1 {
		t.Fatalf("the env was closed %d times, want once", *closes)
	}
	if _, err := env.Step(ctx, "x"); !errors.Is(err, gym.ErrClosed) {
		t.Fatalf("step after close: err = %v, want ErrClosed", err)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{}); !errors.Is(err, gym.ErrClosed) {
		t.Fatalf("reset after close: err = %v, want ErrClosed", err)
	}
}

func TestMakeEnforcesStepLimitPerTask(t *testing.T) {
	ctx := context.Background()
	spec := gym.Spec{ID: "test/bare-v0", Version: "1", MaxSteps: 5,
		Tasks: []gym.Task{{ID: "short", MaxSteps: 2}, {ID: "default"}}}
	env, _ := makeBare(t, spec)
	for _, tc := range []struct {
		task string
		want int
	}{{"", 2}, {"short", 2}, {"default", 5}} {
		if _, err := env.Reset(ctx, gym.ResetOptions{TaskID: tc.task}); err != nil {
			t.Fatal(err)
		}
		for i := 1; ; i++ {
			r, err := env.Step(ctx, "x")
			if err != nil {
				t.Fatal(err)
			}
			if !r.Done() {
				continue
			}
			if i != tc.want || !r.Truncated || r.Observation.Info[gym.InfoTruncatedBy] == nil {
				t.Fatalf("task %q: ended at step %d (%+v), want truncated at %d with %s", tc.task, i, r, tc.want, gym.InfoTruncatedBy)
			}
			break
		}
	}
}

func TestMakeTruncatesInfraFailures(t *testing.T) {
	ctx := context.Background()
	env, _ := makeBare(t, gym.Spec{ID: "test/bare-v0", Version: "1"})
	env.Reset(ctx, gym.ResetOptions{})
	r, err := env.Step(ctx, "fail")
	if err != nil || !r.Truncated || r.Status != gym.StatusEnvError {
		t.Fatalf("an ENV_ERROR the env left open: %+v, %v; want truncated", r, err)
	}
}

func TestSnapshotRestoreKeepsStepCount(t *testing.T) {
	ctx := context.Background()
	env, _ := makeBare(t, gym.Spec{ID: "test/bare-v0", Version: "1", MaxSteps: 3})
	env.Reset(ctx, gym.ResetOptions{})
	env.Step(ctx, "x")
	snap, ok := gym.Capable[gym.Snapshotter](env)
	if !ok {
		t.Fatal("Snapshotter not found through Make's wrapper")
	}
	b, err := snap.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for branch := 0; branch < 2; branch++ {
		if _, err := snap.Restore(ctx, b); err != nil {
			t.Fatal(err)
		}
		if r, _ := env.Step(ctx, "x"); r.Done() {
			t.Fatalf("branch %d: done at step 2 of 3", branch)
		}
		if r, _ := env.Step(ctx, "x"); !r.Truncated {
			t.Fatalf("branch %d: step 3 of 3 not truncated: %+v", branch, r)
		}
	}
	if got := gym.Capabilities(env); len(got) != 1 || got[0] != "Snapshotter" {
		t.Fatalf("capabilities through the wrapper = %v, want [Snapshotter]", got)
	}
	if _, ok := gym.Capable[gym.Oracle](env); ok {
		t.Fatal("the wrapper claims an Oracle the env does not have")
	}
}

func TestSuccessRule(t *testing.T) {
	info := func(v any) gym.Observation { return gym.Observation{Info: map[string]any{gym.InfoSuccess: v}} }
	for _, tc := range []struct {
		name string
		r    gym.StepResult
		want bool
	}{
		{"terminated with reward, no info", gym.StepResult{Reward: 1, Terminated: true}, true},
		{"terminated without reward", gym.StepResult{Terminated: true}, false},
		{"truncated with reward", gym.StepResult{Reward: 1, Truncated: true}, false},
		{"info false beats reward", gym.StepResult{Observation: info(false), Reward: 1, Terminated: true}, false},
		{"info true", gym.StepResult{Observation: info(true)}, true},
		{"info not a bool", gym.StepResult{Observation: info("yes"), Reward: 1, Terminated: true}, true},
	} {
		if got := tc.r.Success(); got != tc.want {
			t.Errorf("%s: Success() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFailedTruncates(t *testing.T) {
	r := gym.Failed(gym.StatusCrashed, errors.New("sandbox died"))
	if !r.Truncated || r.Status != gym.StatusCrashed || r.Observation.Info[gym.InfoError] != "sandbox died" {
		t.Fatalf("Failed = %+v", r)
	}
	if r := gym.Failed(gym.StatusOK, errors.New("x")); r.Status != gym.StatusEnvError {
		t.Fatalf("Failed with a non-infra status kept %s", r.Status)
	}
}

func TestGoalAndTemplates(t *testing.T) {
	if g, ok := gym.Goal("Shop\n  Goal: buy blue socks, size 7\nmore"); !ok || g != "buy blue socks, size 7" {
		t.Fatalf("Goal = %q, %v", g, ok)
	}
	if _, ok := gym.Goal("no goal here"); ok {
		t.Fatal("Goal found in a text without one")
	}
	tpl := `fill(3, "<text>")`
	got := gym.FillTemplate(tpl, `say "hi"`)
	if got != `fill(3, "say \"hi\"")` || !gym.FillsTemplate(got, tpl) || !gym.IsTemplate(tpl) {
		t.Fatalf("FillTemplate = %s", got)
	}
	for _, a := range []string{`fill(4, "x")`, `fill(3, x)`, tpl[:5]} {
		if gym.FillsTemplate(a, tpl) {
			t.Errorf("%s fills %s", a, tpl)
		}
	}
}

// TestExpandTemplates: the one rule the trainer and the world model's
// FillTemplates fill "<text>" templates by.
func TestExpandTemplates(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		actions    []string
		want       []string
	}{
		{"shopping goal", "Goal: I am looking for a blue lightweight sneakers, size 7\nURL: /shop/",
			[]string{`fill(1, "<text>")`, "click(2)"},
			[]string{`fill(1, "blue lightweight sneakers")`, `fill(1, "lightweight sneakers")`, "click(2)"}},
		{"two-word item", "Goal: i am looking for an oak desk, and price lower than 90 dollars",
			[]string{"click(4)", `type(3, "<text>", enter)`},
			[]string{"click(4)", `type(3, "oak desk", enter)`}},
		{"quoted strings", `Goal: Enter "Ada" as the name and "ada@example.com" as the email`,
			[]string{`fill(5, "<text>")`},
			[]string{`fill(5, "Ada")`, `fill(5, "ada@example.com")`}},
		{"nothing to propose: the template is dropped", "Goal: press the button",
			[]string{`fill(1, "<text>")`, "click(2)"}, []string{"click(2)"}},
		{"no goal, no templates", "Location: row 1", []string{"go north"}, []string{"go north"}},
	} {
		got := gym.ExpandTemplates(tc.text, tc.actions)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: ExpandTemplates = %q, want %q", tc.name, got, tc.want)
		}
		for _, a := range got {
			if gym.IsTemplate(a) {
				t.Errorf("%s: %s is still a template", tc.name, a)
			}
		}
	}
}
