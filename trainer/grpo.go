package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/envgym/envgym/gym"
)

// grpoCollect runs one group: k = vec.Len() episodes from the same task
// and seed. Env 0 is reset; where the env is a gym.Snapshotter the others
// are forked from its snapshot, else reset with the same seed.
func grpoCollect(ctx context.Context, p *Policy, vec *gym.Vector, cfg Config, group int64, rng *rand.Rand) ([]episode, int, error) {
	k := vec.Len()
	opts := gym.ResetOptions{Seed: cfg.Seed + grpoSeedOffset + group, TaskID: cfg.Task}
	obs := make([]gym.Observation, k)
	o, err := vec.Env(0).Reset(ctx, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("trainer: grpo reset: %w", err)
	}
	obs[0] = o
	snap, canSnap := gym.Capable[gym.Snapshotter](vec.Env(0))
	var blob []byte
	if canSnap {
		if blob, err = snap.Snapshot(ctx); err != nil {
			canSnap = false
		}
	}
	for i := 1; i < k; i++ {
		if s, ok := gym.Capable[gym.Snapshotter](vec.Env(i)); ok && canSnap {
			obs[i], err = s.Restore(ctx, blob)
		} else {
			obs[i], err = vec.Env(i).Reset(ctx, opts)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("trainer: grpo fork %d: %w", i, err)
		}
	}
	eps := make([]episode, k)
	live := make([]bool, k)
	hist := make([][]string, k)
	for i := range live {
		live[i] = true
	}
	steps := 0
	for {
		var idx []int
		for i, l := range live {
			if l {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			break
		}
		batch := make([]Sample, len(idx))
		cands := make([][]string, len(idx))
		for j, i := range idx {
			cands[j] = candidates(obs[i], cfg.Distractors)
			batch[j] = p.sample(obs[i].Text, hist[i], cands[j])
		}
		probs, values := p.Probs(batch)
		picks := make([]int, len(idx))
		for j := range idx {
			picks[j] = sampleIndex(probs[j], rng)
		}
		res := make([]gym.StepResult, len(idx))
		errs := make([]error, len(idx))
		var wg sync.WaitGroup
		for j, i := range idx {
			wg.Go(func() { res[j], errs[j] = vec.Env(i).Step(ctx, cands[j][picks[j]]) })
		}
		wg.Wait()
		steps += len(idx)
		for j, i := range idx {
			r := res[j]
			e := &eps[i]
			e.steps = append(e.steps, step{sample: batch[j], act: picks[j], logp: logOf(probs[j][picks[j]]),
				value: values[j], reward: r.Reward, status: r.Status, grounded: r.Grounded()})
			e.ret += r.Reward
			hist[i] = pushHist(hist[i], label(obs[i].Text, cands[j][picks[j]]), p.Config.History)
			if errs[j] != nil || r.Status.Infra() {
				e.infra = true
			}
			if errs[j] != nil || r.Done() {
				e.success = errs[j] == nil && r.Success()
				live[i] = false
				continue
			}
			obs[i] = r.Observation
		}
	}
	return eps, steps, nil
}

// grpoItems gives every step of each scored episode its group-normalised
// outcome advantage; groups are consecutive runs of k episodes (infra
// episodes were removed before, so a group may be smaller).
func grpoItems(scored []episode, k int) []trainItem {
	out := make([]float64, len(scored))
	for i, e := range scored {
		out[i] = e.outcome()
	}
	adv := GroupAdvantages(out)
	var items []trainItem
	for i, e := range scored {
		for _, s := range e.steps {
			items = append(items, trainItem{s: s.sample, act: s.act, oldLogp: s.logp, adv: adv[i]})
		}
	}
	return items
}
