package trainer

import (
	"context"
	"fmt"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/internal/torch"
	"github.com/sugarme/gotch/nn"
)

// Run trains a policy per cfg on a locked OS thread (libtorch's grad mode
// and gotch's last error are per thread) and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	err := torch.OnThread("trainer", func() (err error) {
		rep, _, err = train(ctx, cfg)
		return err
	})
	return rep, err
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
	vp := &vocabPolicy{env: env, distract: distract}
	for s := range int64(8) {
		_, err := play.Episode(ctx, env, vp, play.Options{Reset: gym.ResetOptions{Seed: seed + vocabSeedOffset + s, TaskID: task}, MaxSteps: 60})
		if err != nil {
			return nil, fmt.Errorf("trainer: vocab: %w", err)
		}
	}
	return vp.texts, nil
}

// vocabPolicy walks with the oracle (else the first candidate) and keeps
// every observation's text and candidates.
type vocabPolicy struct {
	env      gym.Env
	distract int
	texts    []string
}

func (*vocabPolicy) Begin(int64) {}

func (v *vocabPolicy) Act(ctx context.Context, o gym.Observation) (string, error) {
	v.texts = append(v.texts, o.Text)
	v.texts = append(v.texts, candidates(o, v.distract)...)
	a := candidates(o, 0)[0]
	if or, ok := gym.Capable[gym.Oracle](v.env); ok {
		if x, err := or.OracleAction(ctx); err == nil {
			a = x
		}
	}
	return a, nil
}

// warm is a policy after its (optional) behaviour-cloning warm start.
type warm struct {
	pol   *Policy
	envs  []gym.Env
	rep   Report    // Device, SuccessUntrained, SuccessBefore, BC counts
	demos []episode // the warm start's oracle episodes (successes), for the SPA estimator
}

// prepare seeds libtorch, makes the envs, builds the tokenizer and the
// policy, evaluates it untrained, and warm-starts it by behaviour cloning
// when cfg.BCEpisodes > 0.
func prepare(ctx context.Context, cfg Config) (*warm, error) {
	dev, err := torch.Setup(cfg.Seed, cfg.Threads)
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
	ev, err := evaluateVec(ctx, w.pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors)
	if err != nil {
		return fail(err)
	}
	w.rep.SuccessUntrained, w.rep.SuccessBefore = ev.Success, ev.Success
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
		if ev, err = evaluateVec(ctx, w.pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors); err != nil {
			return fail(err)
		}
		w.rep.SuccessBefore = ev.Success
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

// Resolve is cfg with its defaults filled in and its task resolved (an
// empty Task becomes the env's first), or an ErrConfig saying which field
// is wrong.
func Resolve(ctx context.Context, cfg Config) (Config, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	return resolveTask(ctx, cfg)
}

// WarmStart is a policy after its (optional) behaviour-cloning warm start,
// from which several runs can train: the arms of an experiment start from
// one WarmStart per seed, so that they differ in what they train with only.
type WarmStart struct {
	w *warm
}

// NewWarmStart builds cfg's tokenizer and policy, evaluates it untrained
// and warm-starts it by behaviour cloning when cfg.BCEpisodes > 0. cfg
// must be Resolve'd. Call it on a libtorch thread (torch.OnThread).
func NewWarmStart(ctx context.Context, cfg Config) (*WarmStart, error) {
	w, err := prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w.rep.Task = cfg.Task
	for _, e := range w.envs {
		e.Close()
	}
	w.envs = nil
	return &WarmStart{w: w}, nil
}

// Report is the warm start's figures: device, success untrained and
// after the warm start, behaviour-cloning counts.
func (ws *WarmStart) Report() Report { return ws.w.rep }

// Train trains a copy of the warm-started policy under cfg (the warm
// start's config, typically with another Reward), reseeding libtorch with
// cfg.Seed first so that every copy starts from the same random state.
// Call it on a libtorch thread (torch.OnThread).
func (ws *WarmStart) Train(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	if err := torch.Seed(cfg.Seed); err != nil {
		return Report{}, err
	}
	pol, err := ws.w.pol.clone()
	if err != nil {
		return Report{}, err
	}
	envs, err := makeEnvs(ctx, cfg, cfg.NumEnvs)
	if err != nil {
		return Report{}, err
	}
	return learn(ctx, cfg, pol, envs, ws.w.rep, ws.w.demos)
}
