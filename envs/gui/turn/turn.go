// Package turn is the step logic the GUI backends share: parse the action,
// run it, observe, judge, and turn failures into the right status. Each
// backend supplies how to act on and look at its screen.
package turn

import (
	"context"
	"errors"

	"github.com/envgym/envgym/envs/gui/action"
	"github.com/envgym/envgym/gym"
)

// Screen is one backend's side of a step.
type Screen interface {
	// Parse reads act for this screen: size, and checks of its own such
	// as app names. Errors are *action.Error naming the field.
	Parse(act string) (action.Action, error)
	// Exec performs a. An *action.Error means the action could not apply
	// (INVALID_ACTION, state untouched); any other error is the
	// infrastructure's.
	Exec(ctx context.Context, a action.Action) error
	// Observe looks at the screen after an action and says whether the
	// task's goal is met, given the agent's answer ("" when none).
	Observe(ctx context.Context, answer string) (gym.Observation, bool, error)
	// Failure ends the episode after an infrastructure error: CRASHED or
	// ENV_ERROR. A cancelled caller gets the error back.
	Failure(ctx context.Context, err error) (gym.StepResult, error)
}

// Episode is the per-episode bookkeeping of a step. The registry's
// gym.Enforced keeps the call order and truncates at the spec's MaxSteps;
// Steps (every step, invalid ones too, as Enforced counts) is for the
// observation's "Step N of M".
type Episode struct {
	Steps      int
	AnswerTask bool            // the task ends with answer(), not when its state is reached
	Last       gym.Observation // shown again with an invalid action
	Done       bool
}

// Step plays act on s.
func (ep *Episode) Step(ctx context.Context, s Screen, act string) (gym.StepResult, error) {
	ep.Steps++
	a, err := s.Parse(act)
	if err != nil {
		return invalid(ep.Last, err), nil
	}
	if err := s.Exec(ctx, a); err != nil {
		var inv *action.Error
		if errors.As(err, &inv) {
			return invalid(ep.Last, err), nil
		}
		return ep.fail(ctx, s, err)
	}
	answer := ""
	if a.Type == action.Answer {
		answer = a.Text
	}
	obs, success, err := s.Observe(ctx, answer)
	if err != nil {
		return ep.fail(ctx, s, err)
	}
	ep.Last = obs
	res := gym.StepResult{Observation: obs, Status: gym.StatusOK}
	if a.Type == action.Answer || (success && !ep.AnswerTask) {
		res.Terminated = true
		if success {
			res.Reward = 1
		}
	}
	obs.Info[gym.InfoSuccess] = success && res.Terminated
	ep.Done = res.Done()
	return res, nil
}

func (ep *Episode) fail(ctx context.Context, s Screen, err error) (gym.StepResult, error) {
	r, ferr := s.Failure(ctx, err)
	if ferr == nil {
		ep.Done = true
	}
	return r, ferr
}

// invalid is an INVALID_ACTION result over the last observation, with the
// offending field in info.
func invalid(last gym.Observation, err error) gym.StepResult {
	r := gym.Invalid(last, err.Error())
	r.Observation.Info["field"] = action.FieldOf(err)
	return r
}
