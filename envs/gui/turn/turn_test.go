package turn

import (
	"context"
	"errors"
	"testing"

	"github.com/envgym/envgym/envs/gui/action"
	"github.com/envgym/envgym/gym"
)

// fake is a scripted screen; the real ones are tested in ../phone and
// ../desktop against Chromium and Xvfb.
type fake struct {
	execErr  error
	success  bool
	failures int
}

func (f *fake) Parse(act string) (action.Action, error) { return action.Parse(act, 100, 100) }
func (f *fake) Exec(context.Context, action.Action) error {
	return f.execErr
}
func (f *fake) Observe(context.Context, string) (gym.Observation, bool, error) {
	return gym.Observation{Text: "screen", Info: map[string]any{}}, f.success, nil
}
func (f *fake) Failure(context.Context, error) (gym.StepResult, error) {
	f.failures++
	return gym.StepResult{Status: gym.StatusCrashed, Truncated: true}, nil
}

func TestStep(t *testing.T) {
	ctx := context.Background()
	click := `{"action_type":"click","x":5,"y":5}`

	ep := Episode{Last: gym.Observation{Text: "last", Info: map[string]any{}}}
	r, err := ep.Step(ctx, &fake{}, `{"action_type":"click","x":500,"y":5}`)
	if err != nil || r.Status != gym.StatusInvalidAction || r.Observation.Info["field"] != "x" || ep.Steps != 1 {
		t.Fatalf("off-screen click: %+v %v steps %d (invalid steps count, as gym.Enforced counts them)", r, err, ep.Steps)
	}
	r, _ = ep.Step(ctx, &fake{execErr: &action.Error{Field: "text", Msg: "no focus"}}, click)
	if r.Status != gym.StatusInvalidAction || r.Observation.Info["field"] != "text" || ep.Done {
		t.Fatalf("exec refused: %+v", r)
	}
	r, _ = ep.Step(ctx, &fake{}, click)
	if r.Status != gym.StatusOK || r.Done() || ep.Done || ep.Steps != 3 {
		t.Fatalf("plain step: %+v done %v steps %d", r, ep.Done, ep.Steps)
	}

	ep = Episode{}
	r, _ = ep.Step(ctx, &fake{success: true}, click)
	if !r.Terminated || r.Reward != 1 || r.Observation.Info["success"] != true {
		t.Fatalf("goal reached: %+v", r)
	}

	ep = Episode{AnswerTask: true}
	r, _ = ep.Step(ctx, &fake{success: true}, click)
	if r.Terminated || r.Reward != 0 {
		t.Fatalf("answer task ended without an answer: %+v", r)
	}
	r, _ = ep.Step(ctx, &fake{success: false}, `{"action_type":"answer","text":"42"}`)
	if !r.Terminated || r.Reward != 0 || r.Observation.Info["success"] != false {
		t.Fatalf("wrong answer: %+v", r)
	}

	f := &fake{execErr: errors.New("browser gone")}
	ep = Episode{}
	r, _ = ep.Step(ctx, f, click)
	if r.Status != gym.StatusCrashed || f.failures != 1 || !ep.Done {
		t.Fatalf("infrastructure failure: %+v failures %d", r, f.failures)
	}
}
