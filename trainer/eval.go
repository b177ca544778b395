package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/envgym/envgym/gym"
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

// evaluateVec evaluates p over all of envs at once: env i plays episodes
// i, i+len(envs), ...; the policy scores the live envs' steps in one batch
// and the envs step concurrently. Episode e is seeded seed+e and samples
// with its own generator seeded by seed+e, so the result does not depend
// on the number of envs. (One env at a time, the web shop's evaluations
// took more wall time than its training.)
func evaluateVec(ctx context.Context, p *Policy, envs []gym.Env, task string, seed int64, episodes, distract int) (evalResult, error) {
	type slot struct {
		ep   int // episode index, -1: idle
		obs  gym.Observation
		hist []string
		rng  *rand.Rand
	}
	n := len(envs)
	slots := make([]slot, n)
	next, ret := 0, 0.0
	wins := make([]float64, episodes)
	start := func(i int) error {
		if next >= episodes {
			slots[i].ep = -1
			return nil
		}
		e := next
		next++
		o, err := envs[i].Reset(ctx, gym.ResetOptions{Seed: seed + int64(e), TaskID: task})
		if err != nil {
			return fmt.Errorf("trainer: eval reset: %w", err)
		}
		slots[i] = slot{ep: e, obs: o, rng: rand.New(rand.NewPCG(uint64(seed+int64(e)), evalStream))}
		return nil
	}
	for i := range n {
		if err := start(i); err != nil {
			return evalResult{}, err
		}
	}
	for {
		var live []int
		for i := range slots {
			if slots[i].ep >= 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			break
		}
		batch := make([]Sample, len(live))
		cands := make([][]string, len(live))
		for j, i := range live {
			cands[j] = candidates(slots[i].obs, distract)
			batch[j] = p.sample(slots[i].obs.Text, slots[i].hist, cands[j])
		}
		probs, _ := p.Probs(batch)
		acts := make([]string, len(live))
		for j, i := range live {
			acts[j] = cands[j][sampleIndex(probs[j], slots[i].rng)]
		}
		res := make([]gym.StepResult, len(live))
		errs := make([]error, len(live))
		var wg sync.WaitGroup
		for j, i := range live {
			wg.Go(func() { res[j], errs[j] = envs[i].Step(ctx, acts[j]) })
		}
		wg.Wait()
		for j, i := range live {
			if errs[j] != nil {
				return evalResult{}, fmt.Errorf("trainer: eval step: %w", errs[j])
			}
			r := res[j]
			ret += r.Reward
			slots[i].hist = pushHist(slots[i].hist, label(slots[i].obs.Text, acts[j]), p.Config.History)
			if !r.Done() {
				slots[i].obs = r.Observation
				continue
			}
			if r.Success() {
				wins[slots[i].ep] = 1
			}
			if err := start(i); err != nil {
				return evalResult{}, err
			}
		}
	}
	ev := evalResult{Wins: wins}
	won := 0.0
	for _, w := range wins {
		won += w
	}
	ev.Success = won / float64(episodes)
	ev.Return = ret / float64(episodes)
	return ev, nil
}
