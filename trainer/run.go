package trainer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Config is one training run. Zero fields take the defaults of withDefaults.
type Config struct {
	Registry     *gym.Registry         // where EnvID is made (in-process or plugin host)
	EnvID        string                // e.g. "text/maze-v0"
	Task         string                // task id, e.g. "easy"
	Algo         string                // "ppo" (default) or "grpo"
	Reward       string                // "outcome" (default), "spa" or "spa-no-grounding"
	Iterations   int                   // training iterations (default 10)
	StepsPerIter int                   // env steps per PPO iteration (default 512)
	NumEnvs      int                   // vector width (default 8); GRPO: the group size k
	Seed         int64                 // seeds libtorch, sampling and env resets
	Threads      int                   // libtorch intra-op threads (default 2)
	LR           float64               // Adam learning rate (default 1e-3)
	Epochs       int                   // PPO epochs per iteration (default 4)
	Minibatch    int                   // minibatch size in steps (default 256)
	Grounding    float64               // SPA grounding weight λ (default 0.05)
	BCEpisodes   int                   // oracle episodes for a behaviour-cloning warm start (0: none)
	EvalEpisodes int                   // episodes for the before/after evaluation (default 32)
	OutDir       string                // checkpoint directory ("" : none)
	Policy       PolicyConfig          // network sizes (default 32/64)
	Wrap         func(gym.Env) gym.Env // optional wrapper around each env (tests, adapters)
	Progress     func(IterStats)       // optional per-iteration callback
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Iterations, 10)
	def(&c.StepsPerIter, 512)
	def(&c.NumEnvs, 8)
	def(&c.Threads, 2)
	def(&c.Epochs, 4)
	def(&c.Minibatch, 256)
	def(&c.EvalEpisodes, 32)
	def(&c.Policy.Embed, 32)
	def(&c.Policy.Hidden, 64)
	if c.LR <= 0 {
		c.LR = 1e-3
	}
	if c.Grounding == 0 {
		c.Grounding = 0.05
	}
	if c.Algo == "" {
		c.Algo = "ppo"
	}
	if c.Reward == "" {
		c.Reward = "outcome"
	}
	return c
}

// IterStats is one iteration's figures.
type IterStats struct {
	Iter          int     `json:"iter"`
	EnvSteps      int     `json:"env_steps"` // cumulative
	Episodes      int     `json:"episodes"`
	Success       float64 `json:"success"`
	Return        float64 `json:"return"` // mean env return of scored episodes
	InfraEpisodes int     `json:"infra_episodes"`
	Loss          float64 `json:"loss"`
	ProgressMSE   float64 `json:"progress_mse,omitempty"` // SPA estimator sum-MSE
	StepsPerSec   float64 `json:"steps_per_s"`
}

// Report summarises a run.
type Report struct {
	Device           string      `json:"device"`
	Iters            []IterStats `json:"iters"`
	EnvSteps         int         `json:"env_steps"`
	InfraEpisodes    int         `json:"infra_episodes"`    // excluded from the loss
	SuccessUntrained float64     `json:"success_untrained"` // sampled, before any training
	SuccessBefore    float64     `json:"success_before"`    // sampled, after the BC warm start (if any)
	SuccessAfter     float64     `json:"success_after"`
	StepsPerSec      float64     `json:"steps_per_s"`
}

// ErrConfig marks a bad Config.
var ErrConfig = errors.New("trainer: bad config")

// Run trains a policy per cfg on a locked OS thread (libtorch's grad mode
// and gotch's last error are per thread) and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("trainer: libtorch: %v", r)
			}
		}()
		rep, _, err = train(ctx, cfg)
	})
	wg.Wait()
	return rep, err
}

// Setup seeds libtorch, sets its thread count and picks the device:
// CUDA when libtorch reports it, else CPU.
func Setup(seed int64, threads int) (gotch.Device, error) {
	if err := ts.ManualSeed(seed); err != nil {
		return gotch.CPU, fmt.Errorf("trainer: seed: %w", err)
	}
	if err := ts.SetNumThreads(threads); err != nil {
		return gotch.CPU, fmt.Errorf("trainer: threads: %w", err)
	}
	return gotch.CudaIfAvailable(), nil
}

func makeEnvs(ctx context.Context, cfg Config, n int) ([]gym.Env, error) {
	envs := make([]gym.Env, 0, n)
	for range n {
		e, err := cfg.Registry.Make(ctx, cfg.EnvID, nil)
		if err != nil {
			for _, x := range envs {
				x.Close()
			}
			return nil, fmt.Errorf("trainer: %w", err)
		}
		if cfg.Wrap != nil {
			e = cfg.Wrap(e)
		}
		envs = append(envs, e)
	}
	return envs, nil
}

// vocabText gathers env text for the tokenizer: oracle (else first-action)
// walks from a few seeds.
func vocabText(ctx context.Context, env gym.Env, task string, seed int64) ([]string, error) {
	var texts []string
	for s := range int64(8) {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: seed + 1_000_000 + s, TaskID: task})
		if err != nil {
			return nil, fmt.Errorf("trainer: vocab reset: %w", err)
		}
		for range 60 {
			texts = append(texts, o.Text+" last action")
			texts = append(texts, candidates(o)...)
			a := candidates(o)[0]
			if or, ok := gym.Capable[gym.Oracle](env); ok {
				if x, err := or.OracleAction(ctx); err == nil {
					a = x
				}
			}
			r, err := env.Step(ctx, a)
			if err != nil || r.Done() {
				break
			}
			o = r.Observation
		}
	}
	return texts, nil
}

func train(ctx context.Context, cfg Config) (Report, *Policy, error) {
	cfg = cfg.withDefaults()
	if cfg.Registry == nil || cfg.EnvID == "" {
		return Report{}, nil, fmt.Errorf("%w: Registry and EnvID are required", ErrConfig)
	}
	if cfg.Algo != "ppo" && cfg.Algo != "grpo" {
		return Report{}, nil, fmt.Errorf("%w: algo %q: want ppo or grpo", ErrConfig, cfg.Algo)
	}
	if cfg.Reward != "outcome" && cfg.Reward != "spa" && cfg.Reward != "spa-no-grounding" {
		return Report{}, nil, fmt.Errorf("%w: reward %q: want outcome, spa or spa-no-grounding", ErrConfig, cfg.Reward)
	}
	dev, err := Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return Report{}, nil, err
	}
	rep := Report{Device: dev.Name}
	envs, err := makeEnvs(ctx, cfg, cfg.NumEnvs)
	if err != nil {
		return rep, nil, err
	}
	texts, err := vocabText(ctx, envs[0], cfg.Task, cfg.Seed)
	if err != nil {
		return rep, nil, err
	}
	pol := NewPolicy(BuildTokenizer(texts, 400, 512, 160), cfg.Policy, dev)
	opt, err := nn.DefaultAdamConfig().Build(pol.vs, cfg.LR)
	if err != nil {
		return rep, nil, fmt.Errorf("trainer: optimizer: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	evalSeed := cfg.Seed + 10_000_000
	if rep.SuccessUntrained, err = Evaluate(ctx, pol, envs[0], cfg.Task, evalSeed, cfg.EvalEpisodes); err != nil {
		return rep, nil, err
	}
	if cfg.BCEpisodes > 0 {
		if err := behaviourClone(ctx, pol, opt, envs[0], cfg); err != nil {
			return rep, nil, err
		}
	}
	if rep.SuccessBefore, err = Evaluate(ctx, pol, envs[0], cfg.Task, evalSeed, cfg.EvalEpisodes); err != nil {
		return rep, nil, err
	}
	var prog *Progress
	if cfg.Reward != "outcome" {
		if prog, err = NewProgress(pol.Tok, cfg.Policy.Embed, cfg.Policy.Hidden, cfg.LR, dev); err != nil {
			return rep, nil, fmt.Errorf("trainer: progress estimator: %w", err)
		}
	}
	col, err := newCollector(ctx, envs, gym.ResetOptions{Seed: cfg.Seed, TaskID: cfg.Task})
	if err != nil {
		return rep, nil, err
	}
	defer col.vec.Close()
	var replay []episode
	start := time.Now()
	for it := range cfg.Iterations {
		if err := ctx.Err(); err != nil {
			return rep, pol, fmt.Errorf("trainer: %w", err)
		}
		var eps []episode
		var n int
		if cfg.Algo == "grpo" {
			eps, n, err = grpoCollect(ctx, pol, col.vec, cfg, int64(it), rng)
		} else {
			eps, n, err = col.collect(ctx, pol, cfg.StepsPerIter, rng)
		}
		if err != nil {
			return rep, pol, err
		}
		rep.EnvSteps += n
		st := IterStats{Iter: it, EnvSteps: rep.EnvSteps}
		var scored []episode
		for _, e := range eps {
			if e.infra {
				st.InfraEpisodes++
				continue
			}
			scored = append(scored, e)
			if e.success {
				st.Success++
			}
			st.Return += e.ret
		}
		st.Episodes = len(scored)
		if st.Episodes > 0 {
			st.Success /= float64(st.Episodes)
			st.Return /= float64(st.Episodes)
		}
		rep.InfraEpisodes += st.InfraEpisodes
		rewards := make([][]float64, len(scored))
		for i, e := range scored {
			rewards[i] = make([]float64, len(e.steps))
			rewards[i][len(e.steps)-1] = e.outcome()
		}
		if prog != nil {
			replay = append(replay, scored...)
			if len(replay) > 512 {
				replay = replay[len(replay)-512:]
			}
			if st.ProgressMSE, err = prog.Fit(replay, 20); err != nil {
				return rep, pol, fmt.Errorf("trainer: fit progress: %w", err)
			}
			contrib := prog.Contributions(scored)
			for i, e := range scored {
				for t, s := range e.steps {
					r := contrib[i][t]
					if cfg.Reward == "spa" && !s.grounded {
						r -= cfg.Grounding // grounding: λ·(1[OK] - 1)
					}
					rewards[i][t] = r
				}
			}
		}
		var items []trainItem
		if cfg.Algo == "grpo" {
			items = grpoItems(scored, cfg.NumEnvs)
		} else {
			for i, e := range scored {
				vals := make([]float64, len(e.steps))
				for t, s := range e.steps {
					vals[t] = s.value
				}
				adv, ret := GAE(rewards[i], vals, 0.99, 0.95)
				for t, s := range e.steps {
					items = append(items, trainItem{s: s.sample, act: s.act, oldLogp: s.logp, adv: adv[t], ret: ret[t]})
				}
			}
			normalise(items)
		}
		if len(items) > 0 {
			if st.Loss, err = pol.update(opt, items, cfg.Epochs, cfg.Minibatch, 0.2, 0.5, 0.01, cfg.Algo == "ppo", rng); err != nil {
				return rep, pol, fmt.Errorf("trainer: update: %w", err)
			}
		}
		st.StepsPerSec = float64(rep.EnvSteps) / time.Since(start).Seconds()
		rep.Iters = append(rep.Iters, st)
		if cfg.Progress != nil {
			cfg.Progress(st)
		}
	}
	rep.StepsPerSec = float64(rep.EnvSteps) / time.Since(start).Seconds()
	if rep.SuccessAfter, err = Evaluate(ctx, pol, envs[0], cfg.Task, evalSeed, cfg.EvalEpisodes); err != nil {
		return rep, pol, err
	}
	if cfg.OutDir != "" {
		if err := pol.Save(cfg.OutDir); err != nil {
			return rep, pol, err
		}
	}
	return rep, pol, nil
}

// Evaluate samples episodes on env from seeds seed, seed+1, ... (actions
// drawn with an rng seeded by seed, so it is reproducible) and gives the
// success rate.
func Evaluate(ctx context.Context, p *Policy, env gym.Env, task string, seed int64, episodes int) (float64, error) {
	wins := 0
	rng := rand.New(rand.NewPCG(uint64(seed), 0xe7a1))
	for e := range episodes {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: seed + int64(e), TaskID: task})
		if err != nil {
			return 0, fmt.Errorf("trainer: eval reset: %w", err)
		}
		last := ""
		for {
			c := candidates(o)
			probs, _ := p.Probs([]Sample{p.sample(obsText(o, last), c)})
			last = c[sampleIndex(probs[0], rng)]
			r, err := env.Step(ctx, last)
			if err != nil {
				return 0, fmt.Errorf("trainer: eval step: %w", err)
			}
			if r.Done() {
				if success(r.Observation) {
					wins++
				}
				break
			}
			o = r.Observation
		}
	}
	return float64(wins) / float64(episodes), nil
}

// behaviourClone trains on oracle trajectories (cross-entropy on the
// oracle's action among the candidates).
func behaviourClone(ctx context.Context, p *Policy, opt *nn.Optimizer, env gym.Env, cfg Config) error {
	or, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		return fmt.Errorf("%w: BCEpisodes set but %s has no oracle", ErrConfig, cfg.EnvID)
	}
	var items []trainItem
	for e := range cfg.BCEpisodes {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: cfg.Seed + 20_000_000 + int64(e), TaskID: cfg.Task})
		if err != nil {
			return fmt.Errorf("trainer: bc reset: %w", err)
		}
		last := ""
		for {
			a, err := or.OracleAction(ctx)
			if err != nil {
				return fmt.Errorf("trainer: oracle: %w", err)
			}
			c := candidates(o)
			idx := -1
			for j, x := range c {
				if x == a {
					idx = j
				}
			}
			if idx >= 0 {
				items = append(items, trainItem{s: p.sample(obsText(o, last), c), act: idx})
			}
			last = a
			r, err := env.Step(ctx, a)
			if err != nil {
				return fmt.Errorf("trainer: bc step: %w", err)
			}
			if r.Done() {
				break
			}
			o = r.Observation
		}
	}
	for range 10 {
		for s := 0; s < len(items); s += cfg.Minibatch {
			b := items[s:min(s+cfg.Minibatch, len(items))]
			batch := make([]Sample, len(b))
			acts := make([]int64, len(b))
			for i, it := range b {
				batch[i], acts[i] = it.s, int64(it.act)
			}
			logp, _ := p.Forward(batch)
			a := ts.MustOfSlice(acts).MustView([]int64{-1, 1}, true).MustTo(p.Device, true)
			loss := logp.MustGather(1, a, false, true).MustMean(gotch.Float, true).MustNeg(true)
			if err := opt.BackwardStep(loss); err != nil {
				return fmt.Errorf("trainer: bc step: %w", err)
			}
		}
	}
	return nil
}
