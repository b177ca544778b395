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

	ep := Episode{MaxSteps: 2, Last: gym.Observation{Text: "last", Info: map[string]any{}}}
	r, err := ep.Step(ctx, &fake{}, `{"action_type":"click","x":500,"y":5}`)
	if err != nil || r.Status != gym.StatusInvalidAction || r.Observation.Info["field"] != "x" || ep.Steps != 0 {
		t.Fatalf("off-screen click: %+v %v steps %d", r, err, ep.Steps)
	}
	r, _ = ep.Step(ctx, &fake{execErr: &action.Error{Field: "text", Msg: "no focus"}}, click)
	if r.Status != gym.StatusInvalidAction || r.Observation.Info["field"] != "text" || ep.Done {
		t.Fatalf("exec refused: %+v", r)
	}
	r, _ = ep.Step(ctx, &fake{}, click)
	if r.Status != gym.StatusOK || !r.Truncated || r.Terminated || !ep.Done {
		t.Fatalf("step limit: %+v done %v", r, ep.Done)
	}

	ep = Episode{MaxSteps: 5}
	r, _ = ep.Step(ctx, &fake{success: true}, click)
	if !r.Terminated || r.Reward != 1 || r.Observation.Info["success"] != true {
		t.Fatalf("goal reached: %+v", r)
	}

	ep = Episode{MaxSteps: 5, AnswerTask: true}
	r, _ = ep.Step(ctx, &fake{success: true}, click)
	if r.Terminated || r.Reward != 0 {
		t.Fatalf("answer task ended without an answer: %+v", r)
	}
	r, _ = ep.Step(ctx, &fake{success: false}, `{"action_type":"answer","text":"42"}`)
	if !r.Terminated || r.Reward != 0 || r.Observation.Info["success"] != false {
		t.Fatalf("wrong answer: %+v", r)
	}

	f := &fake{execErr: errors.New("browser gone")}
	ep = Episode{MaxSteps: 5}
	r, _ = ep.Step(ctx, f, click)
	if r.Status != gym.StatusCrashed || f.failures != 1 || !ep.Done {
		t.Fatalf("infrastructure failure: %+v failures %d", r, f.failures)
	}
}
