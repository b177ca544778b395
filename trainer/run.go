package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Config is one training run. Zero fields take the defaults of withDefaults.
type Config struct {
	Registry      *gym.Registry         // where EnvID is made (in-process or plugin host)
	EnvID         string                // e.g. "text/maze-v0"
	Task          string                // task id, e.g. "easy"
	Algo          string                // "ppo" (default) or "grpo"
	Reward        string                // "outcome" (default), "spa", "spa-no-grounding", or "spa+outcome" (SPA's stepwise rewards plus the outcome on the last step)
	Iterations    int                   // training iterations (default 10; ignored when Steps is set)
	Steps         int                   // env-step budget: iterate until this many env steps (counting a resumed run's earlier ones) were taken (0: Iterations decides)
	Resume        string                // checkpoint directory to continue from (its weights, tokenizer and state.json; no warm start)
	StepsPerIter  int                   // env steps per PPO iteration (default 512)
	NumEnvs       int                   // vector width (default 8); GRPO: the group size k
	Seed          int64                 // seeds libtorch, sampling and env resets
	Threads       int                   // libtorch intra-op threads (default 1: the nets are small, and extra threads cost more than they give on a busy machine)
	LR            float64               // Adam learning rate (default 3e-3: on text/maze-v0 easy 1e-3 moved the policy too little per iteration)
	Epochs        int                   // PPO epochs per iteration (default 4)
	TargetKL      float64               // stop an update's epochs early once a minibatch's approx-KL passes 1.5·TargetKL (0: never)
	Minibatch     int                   // minibatch size in steps (default 256)
	EntropyCoef   float64               // entropy bonus (default 0.01; negative: none)
	Grounding     float64               // SPA grounding weight λ (default 0.05)
	Outcome       string                // the final reward RL optimises: "success" (1/0, default) or "return" (the env's own return, e.g. the web shop's partial score)
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
	def(&c.Threads, 1)
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
	if c.Algo == "" {
		c.Algo = "ppo"
	}
	if c.Reward == "" {
		c.Reward = "outcome"
	}
	if c.Outcome == "" {
		c.Outcome = "success"
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
	ValueLoss     float64 `json:"value_loss"`
	Entropy       float64 `json:"entropy"`   // mean policy entropy, nats
	ApproxKL      float64 `json:"approx_kl"` // old vs new policy on the batch, last epoch
	ClipFrac      float64 `json:"clip_frac"`
	// SPA estimator: sum-MSE (Σ_t c_t vs outcome) of its minibatches this
	// iteration, and on this iteration's fresh episodes before it saw them;
	// OutcomeVar is the MSE of predicting the batch's mean outcome (what a
	// constant estimator would get).
	ProgressMSE     float64 `json:"progress_mse,omitempty"`
	ProgressHeldMSE float64 `json:"progress_held_mse,omitempty"`
	OutcomeVar      float64 `json:"outcome_var,omitempty"`
	// Credit assignment (SPA, envs with an oracle): the share of steps whose
	// action is the oracle's, and the mean contribution c_t on those steps
	// and on the others.
	OracleShare   float64 `json:"oracle_share,omitempty"`
	ContribOracle float64 `json:"contrib_oracle,omitempty"`
	ContribOther  float64 `json:"contrib_other,omitempty"`
	Invalid       float64 `json:"invalid"`     // share of steps whose action the env rejected (not grounded)
	StepsPerSec   float64 `json:"steps_per_s"` // env steps per second of the whole run so far
	RolloutSec    float64 `json:"rollout_s"`   // this iteration's rollout time
	UpdateSec     float64 `json:"update_s"`    // this iteration's SPA fit + update time
	ProgressSec   float64 `json:"progress_s"`  // of which the SPA estimator's fit and scoring
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
	Task             string      `json:"task"`
	BCSteps          int         `json:"bc_steps,omitempty"`  // oracle steps cloned in the warm start
	BCMissed         int         `json:"bc_missed,omitempty"` // oracle actions that were not among the candidates (not cloned)
	ReturnAfter      float64     `json:"return_after"`        // mean env return of the evaluation episodes after training
	StepsPerSec      float64     `json:"steps_per_s"`
	Seconds          float64     `json:"seconds"` // wall time of the RL iterations (not the warm start or the evaluations)

	resumedIters int // iterations of the run this one resumed
}

// ErrConfig marks a bad Config.
var ErrConfig = errors.New("trainer: bad config")

// Run trains a policy per cfg on a locked OS thread (libtorch's grad mode
// and gotch's last error are per thread) and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	err := OnTorchThread("trainer", func() (err error) {
		rep, _, err = train(ctx, cfg)
		return err
	})
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
func vocabText(ctx context.Context, env gym.Env, task string, seed int64, distract int) ([]string, error) {
	var texts []string
	for s := range int64(8) {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: seed + 1_000_000 + s, TaskID: task})
		if err != nil {
			return nil, fmt.Errorf("trainer: vocab reset: %w", err)
		}
		for range 60 {
			texts = append(texts, o.Text)
			texts = append(texts, candidates(o, distract)...)
			a := candidates(o, 0)[0]
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

func (c Config) validate() error {
	if c.Registry == nil || c.EnvID == "" {
		return fmt.Errorf("%w: Registry and EnvID are required", ErrConfig)
	}
	if c.Algo != "ppo" && c.Algo != "grpo" {
		return fmt.Errorf("%w: algo %q: want ppo or grpo", ErrConfig, c.Algo)
	}
	if c.Reward != "outcome" && c.Reward != "spa" && c.Reward != "spa-no-grounding" && c.Reward != "spa+outcome" {
		return fmt.Errorf("%w: reward %q: want outcome, spa, spa-no-grounding or spa+outcome", ErrConfig, c.Reward)
	}
	if c.Outcome != "success" && c.Outcome != "return" {
		return fmt.Errorf("%w: outcome %q: want success or return", ErrConfig, c.Outcome)
	}
	return nil
}

// warm is a policy after its (optional) behaviour-cloning warm start.
type warm struct {
	pol   *Policy
	envs  []gym.Env
	rep   Report    // Device, SuccessUntrained, SuccessBefore, BC counts
	demos []episode // the warm start's oracle episodes (successes), for the SPA estimator
}

// evalSeed is the first of the held-out evaluation seeds: far from the
// training (Seed + small), BC (+20M) and GRPO (+30M) seeds.
func (c Config) evalSeed() int64 { return c.Seed + 10_000_000 }

// prepare seeds libtorch, makes the envs, builds the tokenizer and the
// policy, evaluates it untrained, and warm-starts it by behaviour cloning
// when cfg.BCEpisodes > 0.
func prepare(ctx context.Context, cfg Config) (*warm, error) {
	dev, err := Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return nil, err
	}
	w := &warm{rep: Report{Device: dev.Name}}
	if w.envs, err = makeEnvs(ctx, cfg, cfg.NumEnvs); err != nil {
		return nil, err
	}
	fail := func(err error) (*warm, error) {
		for _, e := range w.envs {
			e.Close()
		}
		return nil, err
	}
	texts, err := vocabText(ctx, w.envs[0], cfg.Task, cfg.Seed, cfg.Distractors)
	if err != nil {
		return fail(err)
	}
	pc := cfg.Policy
	pc.Overlap = pc.Overlap || (len(texts) > 0 && hasGoal(gym.Observation{Text: texts[0]}))
	w.pol = NewPolicy(BuildTokenizer(texts, 400, 512, 64), pc, dev)
	if w.rep.SuccessUntrained, _, err = evaluateVec(ctx, w.pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors); err != nil {
		return fail(err)
	}
	w.rep.SuccessBefore = w.rep.SuccessUntrained
	if cfg.BCEpisodes > 0 {
		opt, err := nn.DefaultAdamConfig().Build(w.pol.vs, cfg.LR)
		if err != nil {
			return fail(fmt.Errorf("trainer: optimizer: %w", err))
		}
		demos, missed, err := behaviourClone(ctx, w.pol, opt, w.envs[0], cfg)
		if err != nil {
			return fail(err)
		}
		w.demos = demos
		for _, d := range demos {
			w.rep.BCSteps += len(d.steps)
		}
		w.rep.BCMissed = missed
		if w.rep.SuccessBefore, _, err = evaluateVec(ctx, w.pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors); err != nil {
			return fail(err)
		}
	}
	return w, nil
}

// clone copies p's weights into a new policy (same tokenizer and sizes).
func (p *Policy) clone() (*Policy, error) {
	q := NewPolicy(p.Tok, p.Config, p.Device)
	if err := q.vs.Copy(p.vs); err != nil {
		return nil, fmt.Errorf("trainer: copy weights: %w", err)
	}
	return q, nil
}

func train(ctx context.Context, cfg Config) (Report, *Policy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Report{}, nil, err
	}
	var err error
	if cfg, err = resolveTask(ctx, cfg); err != nil {
		return Report{}, nil, err
	}
	var w *warm
	if cfg.Resume != "" {
		w, err = resume(ctx, cfg)
	} else {
		w, err = prepare(ctx, cfg)
	}
	if err != nil {
		return Report{}, nil, err
	}
	w.rep.Task = cfg.Task
	rep, err := learn(ctx, cfg, w.pol, w.envs, w.rep, w.demos)
	return rep, w.pol, err
}

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

// runState is what a checkpoint records about the run that wrote it, so
// that a resumed run continues its step count and iteration numbers.
type runState struct {
	EnvID    string `json:"env_id"`
	Task     string `json:"task"`
	Iters    int    `json:"iters"`
	EnvSteps int    `json:"env_steps"`
}

const (
	stateFile   = "state.json"
	metricsFile = "metrics.jsonl"
	reportFile  = "report.json"
	curveFile   = "curve.png"
)

// resume loads cfg.Resume's policy and state and makes the envs. The
// optimizer starts afresh (its moments are not saved).
func resume(ctx context.Context, cfg Config) (*warm, error) {
	dev, err := Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return nil, err
	}
	pol, err := LoadPolicy(cfg.Resume, dev)
	if err != nil {
		return nil, err
	}
	var st runState
	b, err := os.ReadFile(filepath.Join(cfg.Resume, stateFile))
	if err != nil {
		return nil, fmt.Errorf("trainer: resume: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("trainer: resume: decode %s: %w", stateFile, err)
	}
	if st.EnvID != cfg.EnvID {
		return nil, fmt.Errorf("%w: resume: the checkpoint was trained on %s, not %s", ErrConfig, st.EnvID, cfg.EnvID)
	}
	w := &warm{pol: pol, rep: Report{Device: dev.Name, EnvSteps: st.EnvSteps, resumedIters: st.Iters}}
	if w.envs, err = makeEnvs(ctx, cfg, cfg.NumEnvs); err != nil {
		return nil, err
	}
	if w.rep.SuccessUntrained, _, err = evaluateVec(ctx, pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors); err != nil {
		for _, e := range w.envs {
			e.Close()
		}
		return nil, err
	}
	w.rep.SuccessBefore = w.rep.SuccessUntrained
	return w, nil
}

// metricsLog writes a run's per-iteration figures and checkpoints to
// cfg.OutDir.
type metricsLog struct {
	dir string
	f   *os.File
}

func openMetrics(cfg Config) (*metricsLog, error) {
	if cfg.OutDir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("trainer: out dir: %w", err)
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if cfg.Resume != "" && filepath.Clean(cfg.Resume) == filepath.Clean(cfg.OutDir) {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND // one curve across the resumed runs
	}
	f, err := os.OpenFile(filepath.Join(cfg.OutDir, metricsFile), flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trainer: metrics: %w", err)
	}
	return &metricsLog{dir: cfg.OutDir, f: f}, nil
}

// iteration appends st to metrics.jsonl and rewrites the checkpoint.
func (m *metricsLog) iteration(cfg Config, pol *Policy, st IterStats) error {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if _, err := m.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if err := pol.Save(m.dir); err != nil {
		return err
	}
	return writeJSON(filepath.Join(m.dir, stateFile), runState{EnvID: cfg.EnvID, Task: cfg.Task, Iters: st.Iter + 1, EnvSteps: st.EnvSteps})
}

// finish writes report.json and the learning curve (every line of
// metrics.jsonl, so a resumed run draws one curve).
func (m *metricsLog) finish(cfg Config, rep Report) error {
	if m == nil {
		return nil
	}
	if err := m.f.Close(); err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if err := writeJSON(filepath.Join(m.dir, reportFile), rep); err != nil {
		return err
	}
	iters, err := ReadMetrics(filepath.Join(m.dir, metricsFile))
	if err != nil {
		return err
	}
	succ, ret := Series{Name: "success (training episodes)"}, Series{Name: "mean return"}
	for _, st := range iters {
		succ.X, succ.Y = append(succ.X, float64(st.EnvSteps)), append(succ.Y, st.Success)
		ret.X, ret.Y = append(ret.X, float64(st.EnvSteps)), append(ret.Y, st.Return)
	}
	return WritePlot(filepath.Join(m.dir, curveFile), fmt.Sprintf("%s %s: %s, %s reward", cfg.EnvID, cfg.Task, cfg.Algo, cfg.Reward),
		"env steps", []Series{succ, ret})
}

// ReadMetrics reads a metrics.jsonl written by a training run.
func ReadMetrics(path string) ([]IterStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer: read metrics: %w", err)
	}
	var out []IterStats
	for l := range strings.Lines(string(b)) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var st IterStats
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			return nil, fmt.Errorf("trainer: read metrics %s: %w", path, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("trainer: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("trainer: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// learn runs the RL iterations of cfg on pol over envs (closed when it
// returns), evaluates the result and saves it when cfg.OutDir is set.
//
// demos are the warm start's oracle episodes (for cfg.ProgressDemos).
func learn(ctx context.Context, cfg Config, pol *Policy, envs []gym.Env, rep Report, demos []episode) (Report, error) {
	opt, err := nn.DefaultAdamConfig().Build(pol.vs, cfg.LR)
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return rep, fmt.Errorf("trainer: optimizer: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	var prog *Progress
	if cfg.Reward != "outcome" {
		if prog, err = NewProgress(pol.Tok, cfg.Policy.Embed, cfg.Policy.Hidden, cfg.LR, pol.Device); err != nil {
			for _, e := range envs {
				e.Close()
			}
			return rep, fmt.Errorf("trainer: progress estimator: %w", err)
		}
		prog.SetBuffer(cfg.ProgressBuffer, cfg.Seed)
		if cfg.ProgressDemos && len(demos) > 0 {
			// The demonstrations are the only episodes known to succeed
			// before RL starts; with them the estimator has positive
			// examples from its first fit (without, the few early
			// successes are drowned by failures).
			ds := make([]episode, len(demos))
			for i, d := range demos {
				ds[i] = d
				ds[i].byRet = cfg.Outcome == "return"
			}
			prog.Add(ds)
		}
	}
	// A resumed run starts its episodes past the seeds the earlier run
	// could have used (at most one episode per env step).
	col, err := newCollector(ctx, envs, gym.ResetOptions{Seed: cfg.Seed + int64(rep.EnvSteps), TaskID: cfg.Task})
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return rep, err
	}
	col.distract = cfg.Distractors
	_, hasOracle := gym.Capable[gym.Oracle](envs[0])
	col.oracle = prog != nil && hasOracle
	defer col.vec.Close()
	ml, err := openMetrics(cfg)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	startSteps := rep.EnvSteps
	for it := rep.resumedIters; ; it++ {
		if cfg.Steps > 0 && rep.EnvSteps >= cfg.Steps || cfg.Steps <= 0 && it-rep.resumedIters >= cfg.Iterations {
			break
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("trainer: %w", err)
		}
		var eps []episode
		var n int
		t0 := time.Now()
		if cfg.Algo == "grpo" {
			eps, n, err = grpoCollect(ctx, pol, col.vec, cfg, int64(it), rng)
		} else {
			eps, n, err = col.collect(ctx, pol, cfg.StepsPerIter, rng)
		}
		if err != nil {
			return rep, err
		}
		rep.EnvSteps += n
		st := IterStats{Iter: it, EnvSteps: rep.EnvSteps, RolloutSec: time.Since(t0).Seconds()}
		t1 := time.Now()
		scored, infra := splitInfra(eps)
		st.InfraEpisodes = infra
		for i := range scored {
			scored[i].byRet = cfg.Outcome == "return"
		}
		for _, e := range scored {
			if e.success {
				st.Success++
			}
			st.Return += e.ret
		}
		st.Episodes = len(scored)
		nsteps := 0
		for _, e := range scored {
			for _, s := range e.steps {
				nsteps++
				if !s.grounded {
					st.Invalid++
				}
			}
		}
		if st.Episodes > 0 {
			st.Success /= float64(st.Episodes)
			st.Return /= float64(st.Episodes)
			st.Invalid /= float64(nsteps)
			mean, v := 0.0, 0.0
			for _, e := range scored {
				mean += e.outcome() / float64(len(scored))
			}
			for _, e := range scored {
				v += (e.outcome() - mean) * (e.outcome() - mean) / float64(len(scored))
			}
			st.OutcomeVar = v
		}
		rep.InfraEpisodes += st.InfraEpisodes
		rewards := outcomeRewards(scored)
		if prog != nil {
			// Warm-started minibatch fit on the recent-episode buffer; the
			// fresh episodes are scored before the estimator trains on them.
			t2 := time.Now()
			st.ProgressHeldMSE = prog.SumMSE(scored)
			prog.Add(scored)
			if st.ProgressMSE, err = prog.Train(cfg.ProgressSteps, cfg.ProgressBatch); err != nil {
				return rep, fmt.Errorf("trainer: fit progress: %w", err)
			}
			contrib := prog.Contributions(scored)
			st.ProgressSec = time.Since(t2).Seconds()
			var nOr, nOther float64
			for i, e := range scored {
				for t, s := range e.steps {
					if col.oracle {
						if s.oracle {
							nOr++
							st.ContribOracle += contrib[i][t]
						} else {
							nOther++
							st.ContribOther += contrib[i][t]
						}
					}
					r := contrib[i][t]
					if cfg.Reward != "spa-no-grounding" && !s.grounded {
						r -= cfg.Grounding // grounding: λ·(1[OK] - 1)
					}
					if cfg.Reward == "spa+outcome" && t == len(e.steps)-1 {
						// The estimator's credit as shaping on top of the
						// true outcome, so its errors on fresh episodes
						// cannot replace the real signal.
						r += e.outcome()
					}
					rewards[i][t] = r
				}
			}
			if nOr+nOther > 0 {
				st.OracleShare = nOr / (nOr + nOther)
				st.ContribOracle /= max(nOr, 1)
				st.ContribOther /= max(nOther, 1)
			}
		}
		var items []trainItem
		if cfg.Algo == "grpo" {
			items = grpoItems(scored, cfg.NumEnvs)
		} else {
			items = ppoItems(scored, rewards, 0.99, 0.95)
			normalise(items)
		}
		if len(items) > 0 {
			us, err := pol.update(opt, items, cfg.Epochs, cfg.Minibatch, 0.2, 0.5, cfg.EntropyCoef, cfg.TargetKL, cfg.Algo == "ppo", rng)
			if err != nil {
				return rep, fmt.Errorf("trainer: update: %w", err)
			}
			st.Loss, st.ValueLoss, st.Entropy, st.ApproxKL, st.ClipFrac = us.Loss, us.ValueLoss, us.Entropy, us.ApproxKL, us.ClipFrac
		}
		st.UpdateSec = time.Since(t1).Seconds()
		st.StepsPerSec = float64(rep.EnvSteps-startSteps) / time.Since(start).Seconds()
		rep.Iters = append(rep.Iters, st)
		if err := ml.iteration(cfg, pol, st); err != nil {
			return rep, err
		}
		if cfg.Progress != nil {
			cfg.Progress(st)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.StepsPerSec = float64(rep.EnvSteps-startSteps) / rep.Seconds
	if rep.SuccessAfter, rep.ReturnAfter, err = evaluateVec(ctx, pol, envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors); err != nil {
		return rep, err
	}
	if cfg.OutDir != "" {
		if err := pol.Save(cfg.OutDir); err != nil {
			return rep, err
		}
		if ml == nil { // no iterations ran: still a resumable checkpoint
			if err := writeJSON(filepath.Join(cfg.OutDir, stateFile), runState{EnvID: cfg.EnvID, Task: cfg.Task, EnvSteps: rep.EnvSteps}); err != nil {
				return rep, err
			}
		}
	}
	if err := ml.finish(cfg, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// splitInfra separates the episodes that enter the loss from those that
// hit an infrastructure failure (CRASHED, TIMEOUT, ENV_ERROR, or an env
// error): those are counted, never scored (a crash is not the policy's
// failure).
func splitInfra(eps []episode) (scored []episode, infra int) {
	for _, e := range eps {
		if e.infra {
			infra++
			continue
		}
		scored = append(scored, e)
	}
	return scored, infra
}

// outcomeRewards gives each episode's per-step rewards for outcome-only
// training: 0 everywhere but the last step, which gets the outcome.
func outcomeRewards(eps []episode) [][]float64 {
	rewards := make([][]float64, len(eps))
	for i, e := range eps {
		rewards[i] = make([]float64, len(e.steps))
		if n := len(e.steps); n > 0 {
			rewards[i][n-1] = e.outcome()
		}
	}
	return rewards
}

// ppoItems gives every step of eps its GAE advantage and return under
// rewards (per episode, per step), with the values recorded in rollout.
func ppoItems(eps []episode, rewards [][]float64, gamma, lambda float64) []trainItem {
	var items []trainItem
	for i, e := range eps {
		vals := make([]float64, len(e.steps))
		for t, s := range e.steps {
			vals[t] = s.value
		}
		adv, ret := GAE(rewards[i], vals, gamma, lambda)
		for t, s := range e.steps {
			items = append(items, trainItem{s: s.sample, act: s.act, oldLogp: s.logp, adv: adv[t], ret: ret[t]})
		}
	}
	return items
}

// Evaluate samples episodes on env from seeds seed, seed+1, ... (actions
// drawn with an rng seeded by seed, so it is reproducible) and gives the
// success rate.
func Evaluate(ctx context.Context, p *Policy, env gym.Env, task string, seed int64, episodes int) (float64, error) {
	s, _, err := evaluate(ctx, p, env, task, seed, episodes, 0)
	return s, err
}

// evaluate gives the success rate and the mean env return, with distract
// distractors among the candidates.
func evaluate(ctx context.Context, p *Policy, env gym.Env, task string, seed int64, episodes, distract int) (float64, float64, error) {
	wins, ret := 0, 0.0
	rng := rand.New(rand.NewPCG(uint64(seed), 0xe7a1))
	for e := range episodes {
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: seed + int64(e), TaskID: task})
		if err != nil {
			return 0, 0, fmt.Errorf("trainer: eval reset: %w", err)
		}
		var hist []string
		for {
			c := candidates(o, distract)
			probs, _ := p.Probs([]Sample{p.sample(o.Text, hist, c)})
			a := c[sampleIndex(probs[0], rng)]
			hist = pushHist(hist, label(o.Text, a), p.Config.History)
			r, err := env.Step(ctx, a)
			if err != nil {
				return 0, 0, fmt.Errorf("trainer: eval step: %w", err)
			}
			ret += r.Reward
			if r.Done() {
				if success(r.Observation) {
					wins++
				}
				break
			}
			o = r.Observation
		}
	}
	return float64(wins) / float64(episodes), ret / float64(episodes), nil
}

// evaluateVec is evaluate over all of envs at once: env i plays episodes
// i, i+len(envs), ...; the policy scores the live envs' steps in one batch
// and the envs step concurrently. Episode e is seeded seed+e and samples
// with its own generator seeded by seed+e, so the result does not depend
// on the number of envs. (One env at a time, the web shop's evaluations
// took more wall time than its training.)
func evaluateVec(ctx context.Context, p *Policy, envs []gym.Env, task string, seed int64, episodes, distract int) (float64, float64, error) {
	type slot struct {
		ep   int // episode index, -1: idle
		obs  gym.Observation
		hist []string
		rng  *rand.Rand
	}
	n := len(envs)
	slots := make([]slot, n)
	next, wins, ret := 0, 0, 0.0
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
		slots[i] = slot{ep: e, obs: o, rng: rand.New(rand.NewPCG(uint64(seed+int64(e)), 0xe7a1))}
		return nil
	}
	for i := range n {
		if err := start(i); err != nil {
			return 0, 0, err
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
				return 0, 0, fmt.Errorf("trainer: eval step: %w", errs[j])
			}
			r := res[j]
			ret += r.Reward
			slots[i].hist = pushHist(slots[i].hist, label(slots[i].obs.Text, acts[j]), p.Config.History)
			if !r.Done() {
				slots[i].obs = r.Observation
				continue
			}
			if success(r.Observation) {
				wins++
			}
			if err := start(i); err != nil {
				return 0, 0, err
			}
		}
	}
	return float64(wins) / float64(episodes), ret / float64(episodes), nil
}

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
		o, err := env.Reset(ctx, gym.ResetOptions{Seed: cfg.Seed + 20_000_000 + int64(e), TaskID: cfg.Task})
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
				ep.success = success(r.Observation)
				break
			}
			o = r.Observation
		}
		if ep.success && len(ep.steps) > 0 {
			demos = append(demos, ep)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xbc))
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
