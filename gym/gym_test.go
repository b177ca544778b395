package gym_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/envgym/envgym/gym"
)

// counter is a minimal env: "inc" adds one; reaching 3 terminates.
type counter struct {
	n, seed int64
	reset   bool
	done    bool
	steps   *atomic.Int64
}

func (c *counter) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	c.n, c.seed, c.reset, c.done = 0, o.Seed, true, false
	return gym.Observation{Text: fmt.Sprintf("seed %d count 0", o.Seed), ValidActions: []string{"inc"}}, nil
}

func (c *counter) Step(_ context.Context, a string) (gym.StepResult, error) {
	if !c.reset {
		return gym.StepResult{}, gym.ErrNotReset
	}
	if c.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	if c.steps != nil {
		c.steps.Add(1)
	}
	if a != "inc" {
		return gym.Invalid(gym.Observation{Text: "count"}, "say inc"), nil
	}
	c.n++
	r := gym.StepResult{Observation: gym.Observation{Text: fmt.Sprintf("count %d", c.n)}, Terminated: c.n >= 3}
	if r.Terminated {
		r.Reward = 1
	}
	c.done = r.Done()
	return r, nil
}

func (c *counter) Spec() gym.Spec {
	return gym.Spec{ID: "test/counter-v0", Version: "1", MaxSteps: 100}
}
func (c *counter) Close() error { return nil }

type oracleCounter struct{ counter }

func (o *oracleCounter) OracleAction(context.Context) (string, error) { return "inc", nil }

func TestStatusJSONAndClasses(t *testing.T) {
	for s := gym.StatusOK; s <= gym.StatusCrashed; s++ {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back gym.Status
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("%s round trip: %s -> %v, %v", s, b, back, err)
		}
	}
	if !gym.StatusOK.Grounded() || gym.StatusInvalidAction.Grounded() {
		t.Error("only OK is grounded")
	}
	if gym.StatusInvalidAction.Infra() || !gym.StatusCrashed.Infra() || !gym.StatusTimeout.Infra() || !gym.StatusEnvError.Infra() {
		t.Error("infra classes wrong")
	}
	var s gym.Status
	if err := json.Unmarshal([]byte(`"BOGUS"`), &s); err == nil {
		t.Error("unknown status parsed")
	}
}

func TestRegistry(t *testing.T) {
	r := gym.NewRegistry()
	f := func(context.Context, map[string]any) (gym.Env, error) { return &counter{}, nil }
	for _, id := range []string{"text/maze-v0", "text/corridor-v0", "web/shop-v0"} {
		if err := r.Register(gym.Spec{ID: id, Version: "1"}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(gym.Spec{ID: "text/maze-v0"}, f); err == nil {
		t.Error("duplicate id accepted")
	}
	for _, bad := range []string{"maze", "Text/maze-v0", "text/maze", "text/maze-vx", "/maze-v0"} {
		if err := r.Register(gym.Spec{ID: bad}, f); err == nil {
			t.Errorf("bad id %q accepted", bad)
		}
	}
	_, err := r.Make(context.Background(), "text/maz-v0", nil)
	if !errors.Is(err, gym.ErrUnknownEnvID) || !strings.Contains(err.Error(), "did you mean text/maze-v0") {
		t.Fatalf("unknown id error = %v", err)
	}
	if _, err := r.Make(context.Background(), "web/shop-v0", nil); err != nil {
		t.Fatal(err)
	}
}

func TestTimeLimitTruncates(t *testing.T) {
	env := gym.WithTimeLimit(&counter{}, 2)
	ctx := context.Background()
	env.Reset(ctx, gym.ResetOptions{})
	r, _ := env.Step(ctx, "nope")
	if r.Done() {
		t.Fatal("done after 1 step")
	}
	r, _ = env.Step(ctx, "nope")
	if !r.Truncated || r.Terminated {
		t.Fatalf("after 2 steps: %+v, want truncated", r)
	}
	if _, err := env.Step(ctx, "inc"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Fatalf("err = %v", err)
	}
}

func TestHistoryAndCapabilityThroughWrappers(t *testing.T) {
	ctx := context.Background()
	env := gym.WithHistory(gym.WithTimeLimit(&oracleCounter{}, 10), 2)
	env.Reset(ctx, gym.ResetOptions{})
	env.Step(ctx, "inc")
	env.Step(ctx, "bad")
	r, _ := env.Step(ctx, "inc")
	if !strings.Contains(r.Observation.Text, "1. bad -> INVALID_ACTION\n2. inc -> OK") {
		t.Fatalf("history missing or wrong:\n%s", r.Observation.Text)
	}
	if _, ok := gym.Capable[gym.Oracle](env); !ok {
		t.Fatal("oracle not found through two wrappers")
	}
	if _, ok := gym.Capable[gym.Snapshotter](env); ok {
		t.Fatal("snapshotter found on an env without it")
	}
	if got := gym.Capabilities(env); len(got) != 1 || got[0] != "Oracle" {
		t.Fatalf("capabilities = %v", got)
	}
}

func TestVectorAutoReset(t *testing.T) {
	var steps atomic.Int64
	envs := make([]gym.Env, 4)
	for i := range envs {
		envs[i] = &counter{steps: &steps}
	}
	v := gym.NewVector(envs)
	ctx := context.Background()
	obs, err := v.Reset(ctx, gym.ResetOptions{Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range obs {
		if want := fmt.Sprintf("seed %d count 0", 10+i); o.Text != want {
			t.Fatalf("env %d: %q, want %q", i, o.Text, want)
		}
	}
	actions := []string{"inc", "inc", "inc", "inc"}
	var finished int
	for k := 0; k < 3; k++ {
		res, err := v.Step(ctx, actions)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Done() {
				finished++
				if r.Reset == nil || r.Reset.Text != fmt.Sprintf("seed %d count 0", 10+i+4) {
					t.Fatalf("env %d auto-reset obs %+v, want the next seed", i, r.Reset)
				}
			}
		}
	}
	if finished != 4 || steps.Load() != 12 {
		t.Fatalf("finished %d episodes in %d steps, want 4 in 12", finished, steps.Load())
	}
	if _, err := v.Step(ctx, []string{"inc"}); err == nil {
		t.Fatal("wrong number of actions accepted")
	}
}
