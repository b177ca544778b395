package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/internal/torch"
)

// Actor plays a trained policy one step at a time (gym run --policy
// checkpoint:DIR, gym eval): it keeps the current episode's action
// history and samples from the policy's distribution over the candidates.
type Actor struct {
	Policy *Policy
	Greedy bool // take the most likely action instead of sampling

	hist []string
	rng  *rand.Rand
}

// LoadActor seeds libtorch (one intra-op thread), picks the device (CUDA
// when libtorch reports it) and loads the checkpoint in dir.
func LoadActor(dir string, seed int64) (*Actor, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := torch.Setup(seed, 1)
	if err != nil {
		return nil, err
	}
	p, err := LoadPolicy(dir, dev)
	if err != nil {
		return nil, err
	}
	a := &Actor{Policy: p}
	a.Begin(seed)
	return a, nil
}

// Begin starts an episode: empty history, sampling seeded by seed.
func (a *Actor) Begin(seed int64) {
	a.hist = nil
	a.rng = rand.New(rand.NewPCG(uint64(seed), 0xac7))
}

// Act chooses among the observation's candidate actions (its valid
// actions, templates filled from the goal).
func (a *Actor) Act(_ context.Context, o gym.Observation) (string, error) {
	// libtorch's grad mode and gotch's last error are per OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if a.rng == nil {
		a.Begin(0)
	}
	c := candidates(o, 0)
	probs, _ := a.Policy.Probs([]Sample{a.Policy.sample(o.Text, a.hist, c)})
	if len(probs) != 1 || len(probs[0]) != len(c) {
		return "", fmt.Errorf("trainer: policy gave %d probabilities for %d candidates", len(probs), len(c))
	}
	var rng *rand.Rand
	if !a.Greedy {
		rng = a.rng
	}
	act := c[sampleIndex(probs[0], rng)]
	a.hist = pushHist(a.hist, label(o.Text, act), a.Policy.Config.History)
	return act, nil
}

// EvalReport is gym eval's result.
type EvalReport struct {
	EnvID         string  `json:"env_id"`
	Task          string  `json:"task"`
	Checkpoint    string  `json:"checkpoint"`
	Device        string  `json:"device"`
	Episodes      int     `json:"episodes"` // scored (infra failures excluded)
	InfraEpisodes int     `json:"infra_episodes"`
	Success       float64 `json:"success"`
	MeanReturn    float64 `json:"mean_return"`
	MeanSteps     float64 `json:"mean_steps"`
	Greedy        bool    `json:"greedy"`
}

// EvalCheckpoint plays episodes with the checkpoint in dir on env, from
// seeds seed, seed+1, ...; episodes that end in CRASHED, TIMEOUT or
// ENV_ERROR are counted apart, not scored.
func EvalCheckpoint(ctx context.Context, dir string, env gym.Env, task string, seed int64, episodes int, greedy bool) (EvalReport, error) {
	rep := EvalReport{EnvID: env.Spec().ID, Task: task, Checkpoint: dir, Greedy: greedy}
	a, err := LoadActor(dir, seed)
	if err != nil {
		return rep, err
	}
	a.Greedy = greedy
	rep.Device = a.Policy.Device.Name
	var steps int
	for e := range episodes {
		s := seed + int64(e)
		st, err := play.Episode(ctx, env, a, play.Options{Reset: gym.ResetOptions{Seed: s, TaskID: task}})
		if err != nil {
			return rep, fmt.Errorf("trainer: eval (seed %d): %w", s, err)
		}
		if st.Infra {
			rep.InfraEpisodes++
			continue
		}
		rep.Episodes++
		steps += st.Steps
		rep.MeanReturn += st.Return
		if st.Success {
			rep.Success++
		}
	}
	if rep.Episodes > 0 {
		k := float64(rep.Episodes)
		rep.Success /= k
		rep.MeanReturn /= k
		rep.MeanSteps = float64(steps) / k
	}
	return rep, nil
}
