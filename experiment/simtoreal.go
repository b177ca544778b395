package worldmodel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/trainer"
)

// SimToRealConfig is the sim-to-real experiment: one policy trained only
// in the dream env of Model, one in the real env, with the same trainer
// settings and the same env-step budget, both evaluated in the real env.
type SimToRealConfig struct {
	Model        *Model
	Real         *gym.Registry // makes Model.Meta.EnvID
	Task         string
	Seeds        int // training seeds 1..Seeds (default 1)
	Iterations   int // PPO iterations per arm (default 10)
	StepsPerIter int // env steps per iteration (default 512)
	NumEnvs      int // default 8
	EvalEpisodes int // real-env evaluation episodes per policy (default 50)
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
	Seed             int64            `json:"seed"`
	SimSuccess       float64          `json:"sim_success"`                      // dream-trained policy, in the real env
	RealSuccess      float64          `json:"real_success"`                     // real-trained policy, in the real env
	CurSuccess       float64          `json:"sim_curriculum_success,omitempty"` // dream + curriculum, in the real env
	CurInDream       float64          `json:"sim_curriculum_success_in_dream,omitempty"`
	Curriculum       *CurriculumStats `json:"curriculum,omitempty"`
	SimInDream       float64          `json:"sim_success_in_dream"` // dream-trained policy in the dream (the trainer's own evaluation)
	UntrainedSuccess float64          `json:"untrained_success"`    // the real arm's untrained policy, in the real env
	SimSeconds       float64          `json:"sim_seconds"`          // wall time of the dream arm's RL iterations
	RealSeconds      float64          `json:"real_seconds"`
	SimStepsPerS     float64          `json:"sim_steps_per_s"` // trainer env steps/s, updates included
	RealStepsPerS    float64          `json:"real_steps_per_s"`
}

// SimToRealReport is the experiment's result (means over seeds).
type SimToRealReport struct {
	EnvID         string  `json:"env_id"`
	Task          string  `json:"task"`
	Budget        string  `json:"budget"`
	EnvSteps      int     `json:"env_steps_per_arm"`
	SimSuccess    float64 `json:"sim_success"`
	RealSuccess   float64 `json:"real_success"`
	TransferRatio float64 `json:"transfer_ratio"` // sim_success ÷ real_success
	// With Curriculum: the third arm's real success and its ratio.
	CurSuccess       float64        `json:"sim_curriculum_success,omitempty"`
	CurTransferRatio float64        `json:"curriculum_transfer_ratio,omitempty"`
	Untrained        float64        `json:"untrained_success"` // the real arm's policy before training, in the real env
	SimSeconds       float64        `json:"sim_seconds"`       // wall time per arm (means over seeds)
	RealSeconds      float64        `json:"real_seconds"`
	Plot             string         `json:"plot,omitempty"`
	Speedup          float64        `json:"speedup"` // dream arm's training steps/s ÷ real arm's
	Runs             []SimToRealRun `json:"runs"`
	// Curves are each arm's training-batch success per env step (the
	// dream arms' measured in the dream).
	Curves []trainer.Series `json:"curves"`
}

// SimToReal runs the experiment.
func SimToReal(ctx context.Context, c SimToRealConfig) (SimToRealReport, error) {
	if c.Model == nil || c.Real == nil {
		return SimToRealReport{}, fmt.Errorf("worldmodel: sim-to-real needs a model and the real env's registry")
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
	if c.OutDir == "" {
		d, err := os.MkdirTemp("", "sim2real-")
		if err != nil {
			return SimToRealReport{}, fmt.Errorf("worldmodel: %w", err)
		}
		defer os.RemoveAll(d)
		c.OutDir = d
	}
	realID := c.Model.Meta.EnvID
	dreamReg := gym.NewRegistry()
	if err := RegisterModel(dreamReg, c.Real, c.Model); err != nil {
		return SimToRealReport{}, err
	}
	if c.Variations <= 0 {
		c.Variations = 200
	}
	rep := SimToRealReport{EnvID: realID, Task: c.Task, EnvSteps: c.Iterations * c.StepsPerIter,
		Budget: fmt.Sprintf("equal env steps: %d iterations × %d steps (%d envs) per arm, PPO, outcome reward (1 on success), no warm start; text templates filled from the goal in both arms (FillTemplates)",
			c.Iterations, c.StepsPerIter, c.NumEnvs)}
	realEnv0, err := c.Real.Make(ctx, realID, nil)
	if err != nil {
		return rep, fmt.Errorf("worldmodel: real env: %w", err)
	}
	defer realEnv0.Close()
	realEnv := NewFillTemplates(realEnv0)
	var simRate, realRate float64
	curves := map[string]*trainer.Series{}
	for s := int64(1); s <= int64(c.Seeds); s++ {
		run := SimToRealRun{Seed: s}
		arm := func(name string, reg *gym.Registry, id string) (trainer.Report, float64, float64, error) {
			dir := filepath.Join(c.OutDir, fmt.Sprintf("%s-seed%d", name, s))
			cfg := trainer.Config{Registry: reg, EnvID: id, Task: c.Task, Iterations: c.Iterations,
				StepsPerIter: c.StepsPerIter, NumEnvs: c.NumEnvs, Seed: s, EvalEpisodes: c.EvalEpisodes, OutDir: dir,
				Wrap: NewFillTemplates}
			key := fmt.Sprintf("%s seed %d (training batch)", name, s)
			curves[key] = &trainer.Series{Name: key}
			cfg.Progress = func(st trainer.IterStats) {
				curves[key].X = append(curves[key].X, float64(st.EnvSteps))
				curves[key].Y = append(curves[key].Y, st.Success)
				if c.Progress != nil {
					c.Progress(name, s, st)
				}
			}
			t0 := time.Now()
			tr, err := trainer.Run(ctx, cfg)
			secs := time.Since(t0).Seconds()
			if err != nil {
				return tr, 0, secs, fmt.Errorf("worldmodel: %s arm: %w", name, err)
			}
			succ, err := realEval(ctx, dir, realEnv, c.Task, s+10_000_000, c.EvalEpisodes)
			return tr, succ, secs, err
		}
		sim, simSucc, simSecs, err := arm("sim", dreamReg, DreamID(realID))
		if err != nil {
			return rep, err
		}
		if c.Curriculum {
			cur := NewCurriculum(c.Model, c.Variations)
			curReg := gym.NewRegistry()
			if err := RegisterCurriculum(curReg, c.Real, c.Model, cur); err != nil {
				return rep, err
			}
			ct, curSucc, _, err := arm("sim+curriculum", curReg, DreamID(realID))
			if err != nil {
				return rep, err
			}
			st := cur.Stats(c.Task)
			run.CurSuccess, run.CurInDream, run.Curriculum = curSucc, ct.SuccessAfter, &st
			rep.CurSuccess += curSucc / float64(c.Seeds)
		}
		real, realSucc, realSecs, err := arm("real", c.Real, realID)
		if err != nil {
			return rep, err
		}
		run.SimSuccess, run.RealSuccess, run.SimInDream = simSucc, realSucc, sim.SuccessAfter
		run.UntrainedSuccess = real.SuccessUntrained
		run.SimSeconds, run.RealSeconds = simSecs, realSecs
		run.SimStepsPerS, run.RealStepsPerS = sim.StepsPerSec, real.StepsPerSec
		rep.Runs = append(rep.Runs, run)
		rep.SimSuccess += simSucc / float64(c.Seeds)
		rep.RealSuccess += realSucc / float64(c.Seeds)
		rep.Untrained += real.SuccessUntrained / float64(c.Seeds)
		rep.SimSeconds += simSecs / float64(c.Seeds)
		rep.RealSeconds += realSecs / float64(c.Seeds)
		simRate += sim.StepsPerSec / float64(c.Seeds)
		realRate += real.StepsPerSec / float64(c.Seeds)
	}
	if rep.RealSuccess > 0 {
		rep.TransferRatio = rep.SimSuccess / rep.RealSuccess
		rep.CurTransferRatio = rep.CurSuccess / rep.RealSuccess
	}
	if realRate > 0 {
		rep.Speedup = simRate / realRate
	}
	rep.Curves = make([]trainer.Series, 0, len(curves))
	for _, k := range sortedKeys(curves) {
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

// realEval loads the policy checkpoint in dir and plays it in the real
// env, on a locked OS thread (libtorch).
func realEval(ctx context.Context, dir string, env gym.Env, task string, seed int64, episodes int) (float64, error) {
	var succ float64
	err := trainer.OnTorchThread("worldmodel", func() error {
		dev, err := trainer.Setup(seed, 1)
		if err != nil {
			return err
		}
		p, err := trainer.LoadPolicy(dir, dev)
		if err != nil {
			return fmt.Errorf("worldmodel: %w", err)
		}
		succ, err = trainer.Evaluate(ctx, p, env, task, seed, episodes)
		return err
	})
	return succ, err
}

// plot draws each arm's training-batch success per env step (the dream
// arms' in the dream) and, as flat lines, each arm's final success in
// the real env.
func (r SimToRealReport) plot(path string, curriculum bool) error {
	series := slices.Clone(r.Curves)
	var xmax float64
	for _, c := range r.Curves {
		for _, x := range c.X {
			xmax = max(xmax, x)
		}
	}
	flat := func(name string, y float64) {
		series = append(series, trainer.Series{Name: name, X: []float64{0, xmax}, Y: []float64{y, y}})
	}
	flat(fmt.Sprintf("sim arm in real env %.2f", r.SimSuccess), r.SimSuccess)
	if curriculum {
		flat(fmt.Sprintf("sim+curriculum in real env %.2f", r.CurSuccess), r.CurSuccess)
	}
	flat(fmt.Sprintf("real arm in real env %.2f", r.RealSuccess), r.RealSuccess)
	title := fmt.Sprintf("sim-to-real %s: transfer %.2f, speedup %.1fx", r.EnvID, r.TransferRatio, r.Speedup)
	if err := trainer.WritePlot(path, title, "env steps", series); err != nil {
		return fmt.Errorf("worldmodel: plot: %w", err)
	}
	return nil
}
