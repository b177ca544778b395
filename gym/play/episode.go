package play

import (
	"context"
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
	Env        int             // the env's index in Batch's envs (Episode: 0)
	Episode    int             // the episode's index in Batch (Episode: 0)
	Index      int             // the step's, 0-based
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
// not the env's failure). It is Batch with one env and one episode.
func Episode(ctx context.Context, env gym.Env, pol Policy, opts Options) (Stats, error) {
	l := loop{
		envs: []gym.Env{env}, pol: single{pol}, episodes: 1,
		reset:    func(int) gym.ResetOptions { return opts.Reset },
		maxSteps: opts.MaxSteps, onStep: opts.OnStep,
	}
	if inf, ok := pol.(Informer); ok || opts.Record != nil {
		l.info = func(int) map[string]any {
			var info map[string]any
			if ok {
				info = inf.PolicyInfo()
			}
			if opts.Record != nil {
				opts.Record.SetPolicyInfo(info)
			}
			return info
		}
	}
	if rep, ok := pol.(Reporter); ok {
		l.report = func(_ int, res gym.StepResult, done bool) { rep.Report(res, done) }
	}
	stats, err := l.run(ctx)
	return stats[0], err
}

// single plays one env with a Policy.
type single struct{ p Policy }

func (s single) Begin(_ int, seed int64) { s.p.Begin(seed) }

func (s single) ActBatch(ctx context.Context, _ []int, obs []gym.Observation) ([]string, error) {
	a, err := s.p.Act(ctx, obs[0])
	if err != nil {
		return nil, err
	}
	return []string{a}, nil
}
