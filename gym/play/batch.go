package play

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
)

// BatchPolicy chooses actions for several envs at once: a network that
// scores every live env's candidates in one forward pass. Envs are named
// by their index in the slice given to Batch.
type BatchPolicy interface {
	// Begin is called when env starts an episode, with the episode's
	// seed, so sampling repeats under the same seed whatever env plays it.
	Begin(env int, seed int64)
	// ActBatch returns one action per observation: obs[j] is env
	// envs[j]'s. An error ends Batch; ErrStop ends every live episode
	// without being one.
	ActBatch(ctx context.Context, envs []int, obs []gym.Observation) ([]string, error)
}

// BatchOptions tune Batch.
type BatchOptions struct {
	// Episodes to play over all envs (default: one per env).
	Episodes int
	// Reset gives episode e's reset options; nil: seed e, the env's
	// first task.
	Reset func(episode int) gym.ResetOptions
	// Start, when set, starts episode e on env i instead of resetting it
	// with Reset(e) (which still gives the policy's seed): GRPO forks a
	// group's episodes from one snapshot.
	Start func(ctx context.Context, env, episode int) (gym.Observation, error)
	// MaxSteps ends an episode unfinished after this many steps (0: when
	// the env ends it), as in Options.
	MaxSteps int
	// OnStep, when set, sees every step: within a round in env order,
	// with Step.Env and Step.Episode set.
	OnStep func(Step)
}

// Batch plays opts.Episodes episodes over envs in lockstep and returns
// each episode's Stats, indexed by episode. Env i starts with episode i;
// a finished env starts the next episode not yet played. Each round the
// policy chooses for every live env in one call and the envs step
// concurrently; results are taken in env order, so a run does not depend
// on scheduling. Errors are as Episode's.
func Batch(ctx context.Context, envs []gym.Env, pol BatchPolicy, opts BatchOptions) ([]Stats, error) {
	l := loop{envs: envs, pol: pol, episodes: opts.Episodes, reset: opts.Reset, start: opts.Start, maxSteps: opts.MaxSteps, onStep: opts.OnStep}
	if l.episodes <= 0 {
		l.episodes = len(envs)
	}
	if l.reset == nil {
		l.reset = func(e int) gym.ResetOptions { return gym.ResetOptions{Seed: int64(e)} }
	}
	return l.run(ctx)
}

// loop is the one episode loop: Episode is a Batch of one env and one
// episode, with the single-env policy's optional hooks.
type loop struct {
	envs     []gym.Env
	pol      BatchPolicy
	episodes int
	reset    func(episode int) gym.ResetOptions
	start    func(ctx context.Context, env, episode int) (gym.Observation, error) // nil: Reset
	maxSteps int
	onStep   func(Step)
	// info gives the policy's record for env's next step (nil: none).
	info func(env int) map[string]any
	// report tells the policy each step's outcome.
	report func(env int, res gym.StepResult, done bool)
}

func (l *loop) run(ctx context.Context) ([]Stats, error) {
	stats := make([]Stats, l.episodes)
	ep := make([]int, len(l.envs)) // env's episode, -1: idle
	obs := make([]gym.Observation, len(l.envs))
	next := 0
	start := func(i int) error {
		ep[i] = -1
		if next >= l.episodes {
			return nil
		}
		e := next
		next++
		stats[e].StatusCounts = map[string]int{}
		ro := l.reset(e)
		var o gym.Observation
		var err error
		if l.start != nil {
			o, err = l.start(ctx, i, e)
		} else {
			o, err = l.envs[i].Reset(ctx, ro)
		}
		if err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		ep[i], obs[i] = e, o
		l.pol.Begin(i, ro.Seed)
		return nil
	}
	for i := range l.envs {
		if err := start(i); err != nil {
			return stats, err
		}
	}
	var live []int
	var liveObs []gym.Observation
	for {
		live, liveObs = live[:0], liveObs[:0]
		for i := range l.envs {
			for ep[i] >= 0 && l.maxSteps > 0 && stats[ep[i]].Steps >= l.maxSteps {
				stats[ep[i]].Unfinished = true
				if err := start(i); err != nil {
					return stats, err
				}
			}
			if ep[i] >= 0 {
				live, liveObs = append(live, i), append(liveObs, obs[i])
			}
		}
		if len(live) == 0 {
			return stats, nil
		}
		acts, err := l.pol.ActBatch(ctx, live, liveObs)
		if errors.Is(err, ErrStop) {
			for _, i := range live {
				stats[ep[i]].Unfinished = true
			}
			return stats, nil
		}
		if err != nil {
			return stats, err
		}
		if len(acts) != len(live) {
			return stats, fmt.Errorf("play: batch policy gave %d actions for %d envs", len(acts), len(live))
		}
		infos := make([]map[string]any, len(live))
		if l.info != nil {
			for j, i := range live {
				infos[j] = l.info(i)
			}
		}
		res, took, errs := l.step(ctx, live, acts)
		for j, i := range live {
			st := &stats[ep[i]]
			if errs[j] != nil {
				return stats, fmt.Errorf("step %d: %w", st.Steps, errs[j])
			}
			r := res[j]
			if l.onStep != nil {
				l.onStep(Step{Env: i, Episode: ep[i], Index: st.Steps, Obs: obs[i], Action: acts[j], Result: r, PolicyInfo: infos[j], Duration: took[j]})
			}
			st.Steps++
			st.Return += r.Reward
			st.StatusCounts[r.Status.String()]++
			st.Final = r
			if l.report != nil {
				l.report(i, r, r.Done())
			}
			if !r.Done() {
				obs[i] = r.Observation
				continue
			}
			if r.Status.Infra() && ctx.Err() != nil {
				return stats, ctx.Err()
			}
			st.Infra = r.Status.Infra()
			st.Success = !st.Infra && r.Success()
			if err := start(i); err != nil {
				return stats, err
			}
		}
	}
}

// step steps the live envs, concurrently when there are several (a
// plugin or Chromium step waits on another process), each timed alone.
func (l *loop) step(ctx context.Context, live []int, acts []string) ([]gym.StepResult, []time.Duration, []error) {
	res := make([]gym.StepResult, len(live))
	took := make([]time.Duration, len(live))
	errs := make([]error, len(live))
	one := func(j int) {
		t0 := time.Now()
		res[j], errs[j] = l.envs[live[j]].Step(ctx, acts[j])
		took[j] = time.Since(t0)
	}
	if len(live) == 1 {
		one(0)
		return res, took, errs
	}
	var wg sync.WaitGroup
	for j := range live {
		wg.Go(func() { one(j) })
	}
	wg.Wait()
	return res, took, errs
}
