package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/envgym/envgym/gym"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// behaviourClone trains on oracle trajectories (cross-entropy on the
// oracle's action among the candidates).
//
// It returns the oracle's successful episodes (the steps it could clone)
// and the number of oracle actions that were not among the candidates.
func behaviourClone(ctx context.Context, p *Policy, opt *nn.Optimizer, env gym.Env, cfg Config) ([]episode, int, error) {
	or, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		return nil, 0, fmt.Errorf("%w: BCEpisodes set but %s has no oracle", ErrConfig, cfg.EnvID)
	}
	var items []trainItem
	var demos []episode
	missed := 0
	for e := range cfg.BCEpisodes {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: cfg.Seed + bcSeedOffset + int64(e), TaskID: cfg.Task})
		if err != nil {
			return nil, 0, fmt.Errorf("trainer: bc reset: %w", err)
		}
		var hist []string
		var ep episode
		for {
			a, err := or.OracleAction(ctx)
			if err != nil {
				return nil, 0, fmt.Errorf("trainer: oracle: %w", err)
			}
			c := candidates(o, cfg.Distractors)
			idx := -1
			for j, x := range c {
				if x == a {
					idx = j
				}
			}
			if idx >= 0 {
				s := p.sample(o.Text, hist, c)
				items = append(items, trainItem{s: s, act: idx})
				ep.steps = append(ep.steps, step{sample: s, act: idx, status: gym.StatusOK, grounded: true, oracle: true})
			} else {
				missed++
			}
			hist = pushHist(hist, label(o.Text, a), p.Config.History)
			r, err := env.Step(ctx, a)
			if err != nil {
				return nil, 0, fmt.Errorf("trainer: bc step: %w", err)
			}
			ep.ret += r.Reward
			if r.Done() {
				ep.success = r.Success()
				break
			}
			o = r.Observation
		}
		if ep.success && len(ep.steps) > 0 {
			demos = append(demos, ep)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), bcStream))
	// Small minibatches: a warm start has a few hundred oracle steps, and
	// with the PPO minibatch (256) 10 epochs were 10 gradient steps, which
	// left the web shop policy where it started.
	mb := min(cfg.Minibatch, 32)
	for range cfg.BCEpochs {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		for s := 0; s < len(items); s += mb {
			b := items[s:min(s+mb, len(items))]
			batch := make([]Sample, len(b))
			acts := make([]int64, len(b))
			for i, it := range b {
				batch[i], acts[i] = it.s, int64(it.act)
			}
			logp, _ := p.Forward(batch)
			a := ts.MustOfSlice(acts).MustView([]int64{-1, 1}, true).MustTo(p.Device, true)
			loss := logp.MustGather(1, a, false, true).MustMean(gotch.Float, true).MustNeg(true)
			if err := opt.BackwardStep(loss); err != nil {
				return nil, 0, fmt.Errorf("trainer: bc step: %w", err)
			}
		}
	}
	return demos, missed, nil
}
