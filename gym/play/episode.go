package play

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/envgym/envgym/gym"
)

// Options tune one Episode.
type Options struct {
	Reset gym.ResetOptions
	// MaxSteps stops the loop after this many steps when the env has not
	// ended the episode (Stats.Unfinished); 0: no cap of the loop's own
	// (envs made by a gym.Registry end at their step limit).
	MaxSteps int
	// Record receives the policy's info (Informer) before each step, for
	// the step it is about to take: a trajectory.Recorder in the env's
	// wrapper chain.
	Record interface{ SetPolicyInfo(map[string]any) }
	// OnStep, when set, sees every step as it happens.
	OnStep func(Step)
}

// Step is one step of an episode, as OnStep sees it.
type Step struct {
	Index      int             // 0-based
	Obs        gym.Observation // the observation the action was chosen on
	Action     string
	Result     gym.StepResult
	PolicyInfo map[string]any // the policy's Informer record; nil if none
	Duration   time.Duration  // of env.Step alone
}

// Stats is the outcome of one episode.
type Stats struct {
	Steps  int
	Return float64
	// Success is the final step's gym.StepResult.Success, false for an
	// episode that ended in an infrastructure failure.
	Success bool
	// Infra: the episode ended CRASHED, TIMEOUT or ENV_ERROR, the
	// infrastructure's fault and not the policy's.
	Infra bool
	// Unfinished: the loop stopped before the env ended the episode
	// (Options.MaxSteps, or the policy's ErrStop).
	Unfinished   bool
	Final        gym.StepResult // the last step (zero when none)
	StatusCounts map[string]int // steps per status name
}

// Episode resets env with opts.Reset, then lets pol choose actions until
// the episode ends, and returns what happened. Errors are the reset's,
// the policy's, contract misuse, or the context's (an infrastructure
// failure that coincides with a cancelled context is the cancellation,
// not the env's failure).
func Episode(ctx context.Context, env gym.Env, pol Policy, opts Options) (Stats, error) {
	st := Stats{StatusCounts: map[string]int{}}
	obs, err := env.Reset(ctx, opts.Reset)
	if err != nil {
		return st, fmt.Errorf("reset: %w", err)
	}
	pol.Begin(opts.Reset.Seed)
	rep, _ := pol.(Reporter)
	inf, _ := pol.(Informer)
	for {
		if opts.MaxSteps > 0 && st.Steps >= opts.MaxSteps {
			st.Unfinished = true
			return st, nil
		}
		action, err := pol.Act(ctx, obs)
		if errors.Is(err, ErrStop) {
			st.Unfinished = true
			return st, nil
		}
		if err != nil {
			return st, err
		}
		var info map[string]any
		if inf != nil {
			info = inf.PolicyInfo()
		}
		if opts.Record != nil {
			opts.Record.SetPolicyInfo(info)
		}
		start := time.Now()
		res, err := env.Step(ctx, action)
		took := time.Since(start)
		if err != nil {
			return st, fmt.Errorf("step %d: %w", st.Steps, err)
		}
		if opts.OnStep != nil {
			opts.OnStep(Step{Index: st.Steps, Obs: obs, Action: action, Result: res, PolicyInfo: info, Duration: took})
		}
		st.Steps++
		st.Return += res.Reward
		st.StatusCounts[res.Status.String()]++
		st.Final = res
		if rep != nil {
			rep.Report(res, res.Done())
		}
		if res.Done() {
			if res.Status.Infra() && ctx.Err() != nil {
				return st, ctx.Err()
			}
			st.Infra = res.Status.Infra()
			st.Success = !st.Infra && res.Success()
			return st, nil
		}
		obs = res.Observation
	}
}
