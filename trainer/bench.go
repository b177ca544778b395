package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/torch"
	"github.com/sugarme/gotch/nn"
)

// BenchConfig sizes gym bench trainer.
type BenchConfig struct {
	Registry  *gym.Registry
	EnvID     string
	Task      string
	NumEnvs   int   // vector width (default 8)
	Rollout   int   // env steps to time (default 1024)
	Updates   int   // PPO minibatch updates to time (default 20)
	Minibatch int   // steps per update (default 256)
	Threads   int   // libtorch threads (default 1, as training)
	Seed      int64 // default 1
}

// BenchResult is gym bench trainer's result.
type BenchResult struct {
	EnvID            string  `json:"env_id"`
	Device           string  `json:"device"`
	Threads          int     `json:"threads"`
	NumEnvs          int     `json:"num_envs"`
	RolloutSteps     int     `json:"rollout_steps"`
	RolloutStepsPerS float64 `json:"rollout_steps_per_s"` // env steps/s, policy forward + env step
	Updates          int     `json:"updates"`
	Minibatch        int     `json:"minibatch"`
	UpdatesPerS      float64 `json:"updates_per_s"`      // PPO minibatch updates/s: forward, backward, Adam step
	TrainTokensPerS  float64 `json:"train_tokens_per_s"` // input tokens (observation lines, history, candidates) through forward+backward per second
}

// Bench measures the trainer's speed on an untrained policy: a rollout of
// cfg.Rollout env steps over a vector of envs, then cfg.Updates PPO
// minibatch updates on the collected steps.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	var res BenchResult
	err := torch.OnThread("trainer", func() (err error) {
		res, err = bench(ctx, cfg)
		return err
	})
	return res, err
}

func bench(ctx context.Context, bc BenchConfig) (BenchResult, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&bc.NumEnvs, 8)
	def(&bc.Rollout, 1024)
	def(&bc.Updates, 20)
	def(&bc.Minibatch, 256)
	def(&bc.Threads, 1)
	if bc.Seed == 0 {
		bc.Seed = 1
	}
	cfg := Config{Registry: bc.Registry, EnvID: bc.EnvID, Task: bc.Task, NumEnvs: bc.NumEnvs, Seed: bc.Seed,
		Threads: bc.Threads, Minibatch: bc.Minibatch}.withDefaults()
	res := BenchResult{EnvID: bc.EnvID, Threads: bc.Threads, NumEnvs: bc.NumEnvs, Minibatch: bc.Minibatch}
	dev, err := torch.Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return res, err
	}
	res.Device = dev.Name
	envs, err := makeEnvs(ctx, cfg, cfg.NumEnvs)
	if err != nil {
		return res, err
	}
	texts, err := vocabText(ctx, envs[0], cfg.Task, cfg.Seed, 0)
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return res, err
	}
	pc := cfg.Policy
	pc.Overlap = len(texts) > 0 && hasGoal(gym.Observation{Text: texts[0]})
	pol := NewPolicy(BuildTokenizer(texts, 400, 512, 64), pc, dev)
	col, err := newCollector(ctx, envs, gym.ResetOptions{Seed: cfg.Seed, TaskID: cfg.Task})
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return res, err
	}
	defer col.vec.Close()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xbe))
	t0 := time.Now()
	eps, n, err := col.collect(ctx, pol, bc.Rollout, rng)
	if err != nil {
		return res, err
	}
	res.RolloutSteps = n
	res.RolloutStepsPerS = float64(n) / time.Since(t0).Seconds()
	// Train on the finished episodes, and on the unfinished ones as if
	// they had ended (the speed of an update does not depend on it).
	for i := range col.cur {
		if len(col.cur[i].steps) > 0 {
			eps = append(eps, col.cur[i])
		}
	}
	items := ppoItems(eps, outcomeRewards(eps), cfg.Gamma, cfg.GAELambda)
	normalise(items)
	if len(items) == 0 {
		return res, fmt.Errorf("trainer: bench: the rollout gave no steps")
	}
	opt, err := nn.DefaultAdamConfig().Build(pol.vs, cfg.LR)
	if err != nil {
		return res, fmt.Errorf("trainer: optimizer: %w", err)
	}
	tokens := 0
	t1 := time.Now()
	for u := range bc.Updates {
		mb := make([]trainItem, 0, bc.Minibatch)
		for j := range bc.Minibatch {
			mb = append(mb, items[(u*bc.Minibatch+j)%len(items)])
		}
		for _, it := range mb {
			tokens += sampleTokens(it.s)
		}
		if _, err := pol.update(opt, mb, 1, bc.Minibatch, cfg.ClipEps, cfg.ValueCoef, cfg.EntropyCoef, 0, true, rng); err != nil {
			return res, fmt.Errorf("trainer: bench update: %w", err)
		}
	}
	sec := time.Since(t1).Seconds()
	res.Updates = bc.Updates
	res.UpdatesPerS = float64(bc.Updates) / sec
	res.TrainTokensPerS = float64(tokens) / sec
	return res, nil
}

// sampleTokens counts the token ids a sample feeds the policy.
func sampleTokens(s Sample) int {
	n := 0
	for _, l := range s.Lines {
		n += len(l)
	}
	for _, l := range s.Hist {
		n += len(l)
	}
	for _, l := range s.Cands {
		n += len(l)
	}
	return n
}
