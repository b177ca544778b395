package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
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
	var demos []episode
	bp := &bcPolicy{p: p, or: or, distract: cfg.Distractors}
	for e := range cfg.BCEpisodes {
		st, err := play.Episode(ctx, env, bp, play.Options{Reset: gym.ResetOptions{Seed: cfg.Seed + bcSeedOffset + int64(e), TaskID: cfg.Task}})
		if err != nil {
			return nil, 0, fmt.Errorf("trainer: bc: %w", err)
		}
		ep := bp.ep
		ep.ret, ep.success = st.Return, st.Success
		if ep.success && len(ep.steps) > 0 {
			demos = append(demos, ep)
		}
	}
	items, missed := bp.items, bp.missed
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

// bcPolicy plays the env's oracle and keeps, for each oracle action found
// among the candidates, the sample and the candidate to clone.
type bcPolicy struct {
	p        *Policy
	or       gym.Oracle
	distract int
	hist     []string
	ep       episode // the current episode's cloned steps
	items    []trainItem
	missed   int // oracle actions not among the candidates
}

func (b *bcPolicy) Begin(int64) { b.hist, b.ep = nil, episode{} }

func (b *bcPolicy) Act(ctx context.Context, o gym.Observation) (string, error) {
	a, err := b.or.OracleAction(ctx)
	if err != nil {
		return "", fmt.Errorf("oracle: %w", err)
	}
	c := candidates(o, b.distract)
	idx := -1
	for j, x := range c {
		if x == a {
			idx = j
		}
	}
	if idx >= 0 {
		s := b.p.sample(o.Text, b.hist, c)
		b.items = append(b.items, trainItem{s: s, act: idx})
		b.ep.steps = append(b.ep.steps, step{sample: s, act: idx, status: gym.StatusOK, grounded: true, oracle: true})
	} else {
		b.missed++
	}
	b.hist = pushHist(b.hist, label(o.Text, a), b.p.Config.History)
	return a, nil
}
