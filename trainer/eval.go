package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

// Evaluate samples episodes on env from seeds seed, seed+1, ... (episode
// e's actions drawn with a generator seeded by seed+e, so it is
// reproducible) and gives each episode's success (1 or 0).
func Evaluate(ctx context.Context, p *Policy, env gym.Env, task string, seed int64, episodes int) ([]float64, error) {
	ev, err := evaluateVec(ctx, p, []gym.Env{env}, task, seed, episodes, 0)
	return ev.Wins, err
}

// evalResult is an evaluation's figures.
type evalResult struct {
	Success float64   // share of episodes that succeeded
	Return  float64   // mean env return
	Wins    []float64 // per episode: 1 if it succeeded, else 0
}

// evaluateVec evaluates p over all of envs at once (play.Batch): the
// policy scores the live envs' steps in one batch and the envs step
// concurrently. Episode e is seeded seed+e and samples with its own
// generator seeded by seed+e, so the result does not depend on the number
// of envs. (One env at a time, the web shop's evaluations took more wall
// time than its training.)
func evaluateVec(ctx context.Context, p *Policy, envs []gym.Env, task string, seed int64, episodes, distract int) (evalResult, error) {
	ret := 0.0
	stats, err := play.Batch(ctx, envs, &evalPolicy{p: p, distract: distract, slots: make([]evalSlot, len(envs))}, play.BatchOptions{
		Episodes: episodes,
		Reset:    func(e int) gym.ResetOptions { return gym.ResetOptions{Seed: seed + int64(e), TaskID: task} },
		// Summed step by step in the loop's order, as the figures were.
		OnStep: func(s play.Step) { ret += s.Result.Reward },
	})
	if err != nil {
		return evalResult{}, fmt.Errorf("trainer: eval: %w", err)
	}
	ev := evalResult{Wins: make([]float64, episodes)}
	won := 0.0
	for e, st := range stats {
		if st.Success {
			ev.Wins[e] = 1
			won++
		}
	}
	ev.Success = won / float64(episodes)
	ev.Return = ret / float64(episodes)
	return ev, nil
}

// evalPolicy samples p's actions for a batch of envs, each env with the
// generator and action history of the episode it plays.
type evalPolicy struct {
	p        *Policy
	distract int
	slots    []evalSlot // per env
}

type evalSlot struct {
	rng  *rand.Rand
	hist []string
}

func (e *evalPolicy) Begin(env int, seed int64) {
	e.slots[env] = evalSlot{rng: rand.New(rand.NewPCG(uint64(seed), evalStream))}
}

func (e *evalPolicy) ActBatch(_ context.Context, envs []int, obs []gym.Observation) ([]string, error) {
	batch := make([]Sample, len(envs))
	cands := make([][]string, len(envs))
	for j, i := range envs {
		cands[j] = candidates(obs[j], e.distract)
		batch[j] = e.p.sample(obs[j].Text, e.slots[i].hist, cands[j])
	}
	probs, _ := e.p.Probs(batch)
	acts := make([]string, len(envs))
	for j, i := range envs {
		s := &e.slots[i]
		acts[j] = cands[j][sampleIndex(probs[j], s.rng)]
		s.hist = pushHist(s.hist, label(obs[j].Text, acts[j]), e.p.Config.History)
	}
	return acts, nil
}
