package experiment

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/plot"
	"github.com/envgym/envgym/internal/torch"
	"github.com/envgym/envgym/trainer"
	"github.com/envgym/envgym/worldmodel"
)

// SimToRealConfig is the sim-to-real experiment: one policy trained only
// in the dream env of Model, one in the real env (the model's), with the
// same trainer settings, warm start and env-step budget, both evaluated
// in the evaluation env (by default the real env; for a model of
// web/shop-text-v0, the Chromium shop web/shop-v0).
type SimToRealConfig struct {
	Model *worldmodel.Model
	Real  *gym.Registry // makes Model.Meta.EnvID: the real arm trains there
	// Eval makes EvalID, the env both policies are evaluated in (defaults:
	// Real and Model.Meta.EnvID).
	Eval   *gym.Registry
	EvalID string
	// BCEpisodes is the arms' shared warm start: per seed, one policy
	// behaviour-cloned from the real env's oracle, then trained by RL in
	// the dream or in the real env (0: none).
	BCEpisodes   int
	Policy       trainer.PolicyConfig // network sizes and goal features of both arms
	Task         string
	Seeds        int // training seeds 1..Seeds (default 1)
	Iterations   int // PPO iterations per arm (default 10)
	StepsPerIter int // env steps per iteration (default 512)
	NumEnvs      int // default 8
	EvalEpisodes int // real-env evaluation episodes per policy (default 50)
	Resamples    int // bootstrap resamples of the intervals (default DefaultResamples)
	OutDir       string
	// Curriculum adds a third arm: trained in the dream with a Curriculum
	// (start states where its reward varies most, plus Variations
	// synthesised task variations, default 200).
	Curriculum bool
	Variations int
	Plot       string // write learning curves and final real success here (PNG)
	Progress   func(arm string, seed int64, st trainer.IterStats)
}

// SimToRealRun is one seed.
type SimToRealRun struct {
	Seed             int64                       `json:"seed"`
	SimSuccess       float64                     `json:"sim_success"`                      // dream-trained policy, in the real env
	RealSuccess      float64                     `json:"real_success"`                     // real-trained policy, in the real env
	CurSuccess       float64                     `json:"sim_curriculum_success,omitempty"` // dream + curriculum, in the real env
	CurInDream       float64                     `json:"sim_curriculum_success_in_dream,omitempty"`
	Curriculum       *worldmodel.CurriculumStats `json:"curriculum,omitempty"`
	SimInDream       float64                     `json:"sim_success_in_dream"` // dream-trained policy in the dream (the trainer's own evaluation)
	UntrainedSuccess float64                     `json:"untrained_success"`    // the real arm's untrained policy, in its training env
	SimSeconds       float64                     `json:"sim_seconds"`          // wall time of the dream arm's RL iterations
	RealSeconds      float64                     `json:"real_seconds"`
	SimStepsPerS     float64                     `json:"sim_steps_per_s"` // trainer env steps/s, updates included
	RealStepsPerS    float64                     `json:"real_steps_per_s"`
}

// SimToRealReport is the experiment's result (means over seeds).
type SimToRealReport struct {
	EnvID        string     `json:"env_id"`
	TrainEnvID   string     `json:"train_env_id"` // where the real arm trained
	Task         string     `json:"task"`
	Budget       string     `json:"budget"`
	EnvSteps     int        `json:"env_steps_per_arm"`
	Seeds        int        `json:"seeds"`
	EvalEpisodes int        `json:"eval_episodes"`
	SimSuccess   float64    `json:"sim_success"`
	SimSE        float64    `json:"sim_se"`
	RealSuccess  float64    `json:"real_success"`
	RealSE       float64    `json:"real_se"`
	SimCI95      [2]float64 `json:"sim_ci95"`
	RealCI95     [2]float64 `json:"real_ci95"`
	// TransferRatio is sim_success ÷ real_success, with its 95 %
	// two-level bootstrap interval (seeds, then episodes; paired by seed).
	TransferRatio     float64    `json:"transfer_ratio"`
	TransferRatioCI95 [2]float64 `json:"transfer_ratio_ci95"`
	// With Curriculum: the third arm's real success and its ratio.
	CurSuccess       float64        `json:"sim_curriculum_success,omitempty"`
	CurTransferRatio float64        `json:"curriculum_transfer_ratio,omitempty"`
	Untrained        float64        `json:"untrained_success"` // the real arm's policy before training
	SimSeconds       float64        `json:"sim_seconds"`       // wall time per arm (means over seeds)
	RealSeconds      float64        `json:"real_seconds"`
	Plot             string         `json:"plot,omitempty"`
	Speedup          float64        `json:"speedup"` // dream arm's training steps/s ÷ real arm's
	Runs             []SimToRealRun `json:"runs"`
	// Curves are each arm's training-batch success per env step (the
	// dream arms' measured in the dream).
	Curves []plot.Series `json:"curves"`
}

// SimToReal runs the experiment.
func SimToReal(ctx context.Context, c SimToRealConfig) (SimToRealReport, error) {
	if c.Model == nil || c.Real == nil {
		return SimToRealReport{}, fmt.Errorf("experiment: sim-to-real needs a model and the real env's registry")
	}
	c.Seeds = max(c.Seeds, 1)
	if c.Iterations <= 0 {
		c.Iterations = 10
	}
	if c.StepsPerIter <= 0 {
		c.StepsPerIter = 512
	}
	if c.NumEnvs <= 0 {
		c.NumEnvs = 8
	}
	if c.EvalEpisodes <= 0 {
		c.EvalEpisodes = 50
	}
	if c.Resamples <= 0 {
		c.Resamples = DefaultResamples
	}
	if c.OutDir == "" {
		d, err := os.MkdirTemp("", "sim2real-")
		if err != nil {
			return SimToRealReport{}, fmt.Errorf("experiment: %w", err)
		}
		defer os.RemoveAll(d)
		c.OutDir = d
	}
	realID := c.Model.Meta.EnvID
	evalReg, evalID := cmp.Or(c.Eval, c.Real), cmp.Or(c.EvalID, realID)
	dreamReg := gym.NewRegistry()
	if err := worldmodel.RegisterModel(dreamReg, c.Real, c.Model); err != nil {
		return SimToRealReport{}, err
	}
	if c.Variations <= 0 {
		c.Variations = 200
	}
	rep := SimToRealReport{EnvID: evalID, TrainEnvID: realID, Task: c.Task, EnvSteps: c.Iterations * c.StepsPerIter,
		Seeds: c.Seeds, EvalEpisodes: c.EvalEpisodes,
		Budget: fmt.Sprintf("equal env steps: %d iterations × %d steps (%d envs) per arm, PPO, outcome reward (1 on success); warm start %d oracle episodes of %s shared by the arms; text templates filled from the goal in every arm (FillTemplates)",
			c.Iterations, c.StepsPerIter, c.NumEnvs, c.BCEpisodes, realID)}
	realEnv0, err := evalReg.Make(ctx, evalID, nil)
	if err != nil {
		return rep, fmt.Errorf("experiment: real env: %w", err)
	}
	defer realEnv0.Close()
	realEnv := worldmodel.NewFillTemplates(realEnv0)
	var simRate, realRate float64
	var simOut, realOut Outcomes
	curves := map[string]*plot.Series{}
	for s := int64(1); s <= int64(c.Seeds); s++ {
		run := SimToRealRun{Seed: s}
		base := trainer.Config{Registry: c.Real, EnvID: realID, Task: c.Task, Iterations: c.Iterations,
			StepsPerIter: c.StepsPerIter, NumEnvs: c.NumEnvs, Seed: s, EvalEpisodes: c.EvalEpisodes,
			BCEpisodes: c.BCEpisodes, Policy: c.Policy, Wrap: worldmodel.NewFillTemplates}
		base, err := trainer.Resolve(ctx, base)
		if err != nil {
			return rep, err
		}
		ws, err := warmStart(ctx, base)
		if err != nil {
			return rep, err
		}
		arm := func(name string, reg *gym.Registry, id string) (trainer.Report, []float64, float64, error) {
			dir := filepath.Join(c.OutDir, fmt.Sprintf("%s-seed%d", name, s))
			cfg := base
			cfg.Registry, cfg.EnvID, cfg.OutDir = reg, id, dir
			key := fmt.Sprintf("%s seed %d (training batch)", name, s)
			curves[key] = &plot.Series{Name: key}
			cfg.Progress = func(st trainer.IterStats) {
				curves[key].X = append(curves[key].X, float64(st.EnvSteps))
				curves[key].Y = append(curves[key].Y, st.Success)
				if c.Progress != nil {
					c.Progress(name, s, st)
				}
			}
			t0 := time.Now()
			var tr trainer.Report
			err := torch.OnThread("experiment", func() (err error) {
				tr, err = ws.Train(ctx, cfg)
				return err
			})
			secs := time.Since(t0).Seconds()
			if err != nil {
				return tr, nil, secs, fmt.Errorf("experiment: %s arm: %w", name, err)
			}
			wins, err := realEval(ctx, dir, realEnv, c.Task, trainer.EvalSeed(s), c.EvalEpisodes)
			return tr, wins, secs, err
		}
		sim, simWins, simSecs, err := arm("sim", dreamReg, worldmodel.DreamID(realID))
		if err != nil {
			return rep, err
		}
		if c.Curriculum {
			cur := worldmodel.NewCurriculum(c.Model, c.Variations)
			curReg := gym.NewRegistry()
			if err := worldmodel.RegisterCurriculum(curReg, c.Real, c.Model, cur); err != nil {
				return rep, err
			}
			ct, curWins, _, err := arm("sim+curriculum", curReg, worldmodel.DreamID(realID))
			if err != nil {
				return rep, err
			}
			st := cur.Stats(c.Task)
			run.CurSuccess, run.CurInDream, run.Curriculum = mean(curWins), ct.SuccessAfter, &st
			rep.CurSuccess += run.CurSuccess / float64(c.Seeds)
		}
		real, realWins, realSecs, err := arm("real", c.Real, realID)
		if err != nil {
			return rep, err
		}
		simOut, realOut = append(simOut, simWins), append(realOut, realWins)
		run.SimSuccess, run.RealSuccess, run.SimInDream = mean(simWins), mean(realWins), sim.SuccessAfter
		run.UntrainedSuccess = real.SuccessUntrained
		run.SimSeconds, run.RealSeconds = simSecs, realSecs
		run.SimStepsPerS, run.RealStepsPerS = sim.StepsPerSec, real.StepsPerSec
		rep.Runs = append(rep.Runs, run)
		rep.Untrained += real.SuccessUntrained / float64(c.Seeds)
		rep.SimSeconds += simSecs / float64(c.Seeds)
		rep.RealSeconds += realSecs / float64(c.Seeds)
		simRate += sim.StepsPerSec / float64(c.Seeds)
		realRate += real.StepsPerSec / float64(c.Seeds)
	}
	rep.SimSuccess, rep.SimSE = simOut.Mean(), simOut.SE()
	rep.RealSuccess, rep.RealSE = realOut.Mean(), realOut.SE()
	pick := func(i int) func([]float64) float64 { return func(m []float64) float64 { return m[i] } }
	rep.SimCI95 = Bootstrap([]Outcomes{simOut}, c.Resamples, 1, pick(0))
	rep.RealCI95 = Bootstrap([]Outcomes{realOut}, c.Resamples, 2, pick(0))
	rep.TransferRatioCI95 = Bootstrap([]Outcomes{simOut, realOut}, c.Resamples, 3, ratio)
	if rep.RealSuccess > 0 {
		rep.TransferRatio = rep.SimSuccess / rep.RealSuccess
		rep.CurTransferRatio = rep.CurSuccess / rep.RealSuccess
	}
	if realRate > 0 {
		rep.Speedup = simRate / realRate
	}
	keys := make([]string, 0, len(curves))
	for k := range curves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rep.Curves = make([]plot.Series, 0, len(curves))
	for _, k := range keys {
		rep.Curves = append(rep.Curves, *curves[k])
	}
	if c.Plot != "" {
		if err := rep.plot(c.Plot, c.Curriculum); err != nil {
			return rep, err
		}
		rep.Plot = c.Plot
	}
	return rep, nil
}

// warmStart makes cfg's shared warm start on a libtorch thread.
func warmStart(ctx context.Context, cfg trainer.Config) (*trainer.WarmStart, error) {
	var ws *trainer.WarmStart
	err := torch.OnThread("experiment", func() (err error) {
		ws, err = trainer.NewWarmStart(ctx, cfg)
		return err
	})
	return ws, err
}

// ratio is sim ÷ real of a resample's means (0 when real is 0: a resample
// where the real arm never succeeds says nothing about transfer).
func ratio(m []float64) float64 {
	if m[1] == 0 {
		return 0
	}
	return m[0] / m[1]
}

// realEval loads the policy checkpoint in dir and plays it in the real
// env on a libtorch thread; it gives each episode's success.
func realEval(ctx context.Context, dir string, env gym.Env, task string, seed int64, episodes int) ([]float64, error) {
	var wins []float64
	err := torch.OnThread("experiment", func() error {
		dev, err := torch.Setup(seed, torch.DefaultThreads)
		if err != nil {
			return err
		}
		p, err := trainer.LoadPolicy(dir, dev)
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		wins, err = trainer.Evaluate(ctx, p, env, task, seed, episodes)
		return err
	})
	return wins, err
}

// plot draws each arm's training-batch success per env step (the dream
// arms' in the dream) and, as flat lines with their 95 % intervals at the
// end, each arm's final success in the real env.
func (r SimToRealReport) plot(path string, curriculum bool) error {
	series := slices.Clone(r.Curves)
	var xmax float64
	for _, c := range r.Curves {
		for _, x := range c.X {
			xmax = max(xmax, x)
		}
	}
	flat := func(name string, y float64, ci [2]float64) {
		s := plot.Series{Name: name, X: []float64{0, xmax}, Y: []float64{y, y}}
		if ci != ([2]float64{}) {
			s.Lo, s.Hi = []float64{y, ci[0]}, []float64{y, ci[1]}
		}
		series = append(series, s)
	}
	flat(fmt.Sprintf("sim arm in real env %.2f [%.2f, %.2f]", r.SimSuccess, r.SimCI95[0], r.SimCI95[1]), r.SimSuccess, r.SimCI95)
	if curriculum {
		flat(fmt.Sprintf("sim+curriculum in real env %.2f", r.CurSuccess), r.CurSuccess, [2]float64{})
	}
	flat(fmt.Sprintf("real arm in real env %.2f [%.2f, %.2f]", r.RealSuccess, r.RealCI95[0], r.RealCI95[1]), r.RealSuccess, r.RealCI95)
	title := fmt.Sprintf("sim-to-real %s: transfer %.2f [%.2f, %.2f], speedup %.1fx", r.EnvID, r.TransferRatio,
		r.TransferRatioCI95[0], r.TransferRatioCI95[1], r.Speedup)
	if err := plot.Write(path, title, "env steps", series); err != nil {
		return fmt.Errorf("experiment: plot: %w", err)
	}
	return nil
}
