package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

// grpoCollect runs one group: k = vec.Len() episodes from the same task
// and seed, in lockstep (play.Batch). Env 0 is reset; where the env is a
// gym.Snapshotter the others are forked from its snapshot, else reset
// with the same seed.
func grpoCollect(ctx context.Context, p *Policy, vec *gym.Vector, cfg Config, group int64, rng *rand.Rand) ([]episode, int, error) {
	k := vec.Len()
	opts := gym.ResetOptions{Seed: cfg.Seed + grpoSeedOffset + group, TaskID: cfg.Task}
	var blob []byte
	canSnap := false
	start := func(ctx context.Context, i, _ int) (gym.Observation, error) {
		if i == 0 {
			o, err := vec.Env(0).Reset(ctx, opts)
			if err != nil {
				return o, err
			}
			if snap, ok := gym.Capable[gym.Snapshotter](vec.Env(0)); ok {
				blob, err = snap.Snapshot(ctx)
				canSnap = err == nil
			}
			return o, nil
		}
		var o gym.Observation
		var err error
		if s, ok := gym.Capable[gym.Snapshotter](vec.Env(i)); ok && canSnap {
			o, err = s.Restore(ctx, blob)
		} else {
			o, err = vec.Env(i).Reset(ctx, opts)
		}
		if err != nil {
			return o, fmt.Errorf("fork %d: %w", i, err)
		}
		return o, nil
	}
	gp := &grpoPolicy{p: p, distract: cfg.Distractors, rng: rng, eps: make([]episode, k), hist: make([][]string, k), last: make([]step, k)}
	envs := make([]gym.Env, k)
	for i := range envs {
		envs[i] = vec.Env(i)
	}
	stats, err := play.Batch(ctx, envs, gp, play.BatchOptions{
		Episodes: k, Start: start,
		Reset: func(int) gym.ResetOptions { return opts },
		OnStep: func(s play.Step) {
			r, e := s.Result, &gp.eps[s.Env]
			st := gp.last[s.Env]
			st.reward, st.status, st.grounded = r.Reward, r.Status, r.Grounded()
			e.steps = append(e.steps, st)
			e.ret += r.Reward
			if r.Status.Infra() {
				e.infra = true
			}
			if r.Done() {
				e.success = r.Success()
			}
		},
	})
	steps := 0
	for _, st := range stats {
		steps += st.Steps
	}
	if err != nil {
		return nil, steps, fmt.Errorf("trainer: grpo: %w", err)
	}
	return gp.eps, steps, nil
}

// grpoPolicy samples a group's actions from one generator, in env order,
// and keeps each env's pending step (sample, choice, log-probability,
// value) for OnStep to complete with the env's answer.
type grpoPolicy struct {
	p        *Policy
	distract int
	rng      *rand.Rand
	eps      []episode // per env: its episode
	hist     [][]string
	last     []step
}

func (g *grpoPolicy) Begin(int, int64) {}

func (g *grpoPolicy) ActBatch(_ context.Context, envs []int, obs []gym.Observation) ([]string, error) {
	batch := make([]Sample, len(envs))
	cands := make([][]string, len(envs))
	for j, i := range envs {
		cands[j] = candidates(obs[j], g.distract)
		batch[j] = g.p.sample(obs[j].Text, g.hist[i], cands[j])
	}
	probs, values := g.p.Probs(batch)
	acts := make([]string, len(envs))
	for j, i := range envs {
		pick := sampleIndex(probs[j], g.rng)
		acts[j] = cands[j][pick]
		g.last[i] = step{sample: batch[j], act: pick, logp: logOf(probs[j][pick]), value: values[j]}
		g.hist[i] = pushHist(g.hist[i], label(obs[j].Text, acts[j]), g.p.Config.History)
	}
	return acts, nil
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
