package trainer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/torch"
)

// Algo is the RL algorithm.
type Algo string

const (
	AlgoPPO  Algo = "ppo"  // PPO with a value baseline and GAE
	AlgoGRPO Algo = "grpo" // GRPO: groups of episodes from one start, group-normalised outcomes
)

// Reward is what RL credits each step with.
type Reward string

const (
	RewardOutcome        Reward = "outcome"          // the outcome on the last step, 0 elsewhere
	RewardSPA            Reward = "spa"              // SPA: the progress estimator's stepwise contributions plus grounding
	RewardSPANoGrounding Reward = "spa-no-grounding" // SPA's contributions alone
	RewardSPAOutcome     Reward = "spa+outcome"      // SPA's stepwise rewards as shaping, plus the outcome on the last step
)

// Rewards are the valid Reward values.
var Rewards = []Reward{RewardOutcome, RewardSPA, RewardSPANoGrounding, RewardSPAOutcome}

// Outcome is the episode's final score that RL optimises.
type Outcome string

const (
	OutcomeSuccess Outcome = "success" // 1 on success, else 0
	OutcomeReturn  Outcome = "return"  // the env's own return (e.g. the web shop's partial score)
)

// Seed offsets: every stream of episodes a run plays is seeded from
// Config.Seed plus one of these, far apart so that training, warm-start,
// evaluation and tokenizer episodes never share a start.
const (
	vocabSeedOffset = 1_000_000  // the tokenizer's vocabulary walks
	EvalSeedOffset  = 10_000_000 // the held-out evaluation episodes (Seed+EvalSeedOffset+e)
	bcSeedOffset    = 20_000_000 // the behaviour-cloning oracle episodes
	grpoSeedOffset  = 30_000_000 // GRPO's group starts
)

// Streams of the run's math/rand generators (the PCG's second word), one
// per job so that adding draws to one job does not shift another's.
const (
	learnStream = 0x5eed // RL sampling and minibatch shuffles
	evalStream  = 0xe7a1 // evaluation sampling (with the episode's seed)
	bcStream    = 0xbc   // behaviour-cloning shuffles
)

// Config is one training run. Zero fields take the defaults of withDefaults.
type Config struct {
	Registry      *gym.Registry         // where EnvID is made (in-process or plugin host)
	EnvID         string                // e.g. "text/maze-v0"
	Task          string                // task id, e.g. "easy"
	Algo          Algo                  // AlgoPPO (default) or AlgoGRPO
	Reward        Reward                // RewardOutcome (default), RewardSPA, RewardSPANoGrounding or RewardSPAOutcome
	Iterations    int                   // training iterations (default 10; ignored when Steps is set)
	Steps         int                   // env-step budget: iterate until this many env steps (counting a resumed run's earlier ones) were taken (0: Iterations decides)
	Resume        string                // checkpoint directory to continue from (its weights, tokenizer and state.json; no warm start)
	StepsPerIter  int                   // env steps per PPO iteration (default 512)
	NumEnvs       int                   // vector width (default 8); GRPO: the group size k
	Seed          int64                 // seeds libtorch, sampling and env resets
	Threads       int                   // libtorch intra-op threads (default torch.DefaultThreads)
	LR            float64               // Adam learning rate (default 3e-3: on text/maze-v0 easy 1e-3 moved the policy too little per iteration)
	Epochs        int                   // PPO epochs per iteration (default 4)
	TargetKL      float64               // stop an update's epochs early once a minibatch's approx-KL passes 1.5·TargetKL (0: never)
	Minibatch     int                   // minibatch size in steps (default 256)
	EntropyCoef   float64               // entropy bonus (default 0.01; negative: none)
	Grounding     float64               // SPA grounding weight λ (default 0.05)
	Outcome       Outcome               // the final score RL optimises: OutcomeSuccess (default) or OutcomeReturn
	ProgressDemos bool                  // SPA: put the warm start's successful oracle episodes into the estimator's buffer before the first fit
	Distractors   int                   // invalid distractor actions added to each step's candidates (default 0: valid actions only)
	BCEpisodes    int                   // oracle episodes for a behaviour-cloning warm start (0: none)
	BCEpochs      int                   // passes over the oracle steps (default 10)
	EvalEpisodes  int                   // episodes for the before/after evaluation (default 32)
	OutDir        string                // checkpoint directory, rewritten after every iteration, with metrics.jsonl, report.json and curve.png ("": none)
	Policy        PolicyConfig          // network sizes (default 32/64)
	Wrap          func(gym.Env) gym.Env // optional wrapper around each env (tests, adapters)
	Progress      func(IterStats)       // optional per-iteration callback

	// The SPA progress estimator: gradient steps per iteration (default 50),
	// episodes per minibatch (default 8) and the FIFO buffer of recent
	// episodes it draws from (default 256).
	ProgressSteps, ProgressBatch, ProgressBuffer int
	// SPAWarmup is the number of first iterations that train on the
	// outcome while the estimator learns from on-policy episodes (default
	// 2; negative: none). After it, SPA's rewards are gated (learn.go).
	SPAWarmup int

	// PPO: discount γ (default 0.99), GAE λ (default 0.95), the ratio clip
	// ε (default 0.2) and the value-loss weight (default 0.5).
	Gamma, GAELambda, ClipEps, ValueCoef float64
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
	def(&c.Threads, torch.DefaultThreads)
	def(&c.Epochs, 4)
	def(&c.Minibatch, 256)
	def(&c.EvalEpisodes, 32)
	def(&c.Policy.Embed, 32)
	def(&c.Policy.Hidden, 64)
	switch {
	case c.Policy.History == 0:
		c.Policy.History = 4
	case c.Policy.History < 0:
		c.Policy.History = 0
	}
	def(&c.BCEpochs, 10)
	def(&c.ProgressSteps, 50)
	def(&c.ProgressBatch, 8)
	def(&c.ProgressBuffer, 256)
	switch {
	case c.SPAWarmup == 0:
		c.SPAWarmup = 2
	case c.SPAWarmup < 0:
		c.SPAWarmup = 0
	}
	if c.EntropyCoef == 0 {
		c.EntropyCoef = 0.01
	}
	c.EntropyCoef = max(c.EntropyCoef, 0)
	if c.LR <= 0 {
		c.LR = 3e-3
	}
	if c.Grounding == 0 {
		c.Grounding = 0.05
	}
	c.Algo = cmp.Or(c.Algo, AlgoPPO)
	c.Reward = cmp.Or(c.Reward, RewardOutcome)
	c.Outcome = cmp.Or(c.Outcome, OutcomeSuccess)
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	deff(&c.Gamma, 0.99)
	deff(&c.GAELambda, 0.95)
	deff(&c.ClipEps, 0.2)
	deff(&c.ValueCoef, 0.5)
	return c
}

// ErrConfig marks a bad Config.
var ErrConfig = errors.New("trainer: bad config")

func (c Config) validate() error {
	if c.Registry == nil || c.EnvID == "" {
		return fmt.Errorf("%w: Registry and EnvID are required", ErrConfig)
	}
	if c.Algo != AlgoPPO && c.Algo != AlgoGRPO {
		return fmt.Errorf("%w: algo %q: want ppo or grpo", ErrConfig, c.Algo)
	}
	if !slices.Contains(Rewards, c.Reward) {
		return fmt.Errorf("%w: reward %q: want outcome, spa, spa-no-grounding or spa+outcome", ErrConfig, c.Reward)
	}
	if c.Outcome != OutcomeSuccess && c.Outcome != OutcomeReturn {
		return fmt.Errorf("%w: outcome %q: want success or return", ErrConfig, c.Outcome)
	}
	return nil
}

// evalSeed is the first of the held-out evaluation seeds.
func (c Config) evalSeed() int64 { return EvalSeed(c.Seed) }

// EvalSeed is the first held-out evaluation seed of a run seeded seed.
func EvalSeed(seed int64) int64 { return seed + EvalSeedOffset }

// byReturn reports whether the outcome is the env's return.
func (c Config) byReturn() bool { return c.Outcome == OutcomeReturn }

// resolveTask sets an empty cfg.Task to the env's first task (plugin
// hosts learn an env's tasks from the env itself).
func resolveTask(ctx context.Context, cfg Config) (Config, error) {
	if cfg.Task != "" {
		return cfg, nil
	}
	spec, err := cfg.Registry.Spec(cfg.EnvID)
	if err != nil {
		return cfg, fmt.Errorf("trainer: %w", err)
	}
	if len(spec.Tasks) == 0 {
		env, err := cfg.Registry.Make(ctx, cfg.EnvID, nil)
		if err != nil {
			return cfg, fmt.Errorf("trainer: %w", err)
		}
		spec = env.Spec()
		env.Close()
	}
	if len(spec.Tasks) > 0 {
		cfg.Task = spec.Tasks[0].ID
	}
	return cfg, nil
}
