package worldmodel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
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
	Progress     func(arm string, seed int64, st trainer.IterStats)
}

// SimToRealRun is one seed.
type SimToRealRun struct {
	Seed             int64   `json:"seed"`
	SimSuccess       float64 `json:"sim_success"`          // dream-trained policy, in the real env
	RealSuccess      float64 `json:"real_success"`         // real-trained policy, in the real env
	SimInDream       float64 `json:"sim_success_in_dream"` // dream-trained policy in the dream (the trainer's own evaluation)
	UntrainedSuccess float64 `json:"untrained_success"`    // the real arm's untrained policy, in the real env
	SimSeconds       float64 `json:"sim_seconds"`          // wall time of the dream arm's RL iterations
	RealSeconds      float64 `json:"real_seconds"`
	SimStepsPerS     float64 `json:"sim_steps_per_s"` // trainer env steps/s, updates included
	RealStepsPerS    float64 `json:"real_steps_per_s"`
}

// SimToRealReport is the experiment's result (means over seeds).
type SimToRealReport struct {
	EnvID         string         `json:"env_id"`
	Task          string         `json:"task"`
	Budget        string         `json:"budget"`
	EnvSteps      int            `json:"env_steps_per_arm"`
	SimSuccess    float64        `json:"sim_success"`
	RealSuccess   float64        `json:"real_success"`
	TransferRatio float64        `json:"transfer_ratio"` // sim_success ÷ real_success
	Speedup       float64        `json:"speedup"`        // dream arm's training steps/s ÷ real arm's
	Runs          []SimToRealRun `json:"runs"`
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
	rep := SimToRealReport{EnvID: realID, Task: c.Task, EnvSteps: c.Iterations * c.StepsPerIter,
		Budget: fmt.Sprintf("equal env steps: %d iterations × %d steps (%d envs) per arm, PPO, outcome reward, no warm start",
			c.Iterations, c.StepsPerIter, c.NumEnvs)}
	realEnv, err := c.Real.Make(ctx, realID, nil)
	if err != nil {
		return rep, fmt.Errorf("worldmodel: real env: %w", err)
	}
	defer realEnv.Close()
	var simRate, realRate float64
	for s := int64(1); s <= int64(c.Seeds); s++ {
		run := SimToRealRun{Seed: s}
		arm := func(name string, reg *gym.Registry, id string) (trainer.Report, float64, float64, error) {
			dir := filepath.Join(c.OutDir, fmt.Sprintf("%s-seed%d", name, s))
			cfg := trainer.Config{Registry: reg, EnvID: id, Task: c.Task, Iterations: c.Iterations,
				StepsPerIter: c.StepsPerIter, NumEnvs: c.NumEnvs, Seed: s, EvalEpisodes: c.EvalEpisodes, OutDir: dir}
			if c.Progress != nil {
				cfg.Progress = func(st trainer.IterStats) { c.Progress(name, s, st) }
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
		simRate += sim.StepsPerSec / float64(c.Seeds)
		realRate += real.StepsPerSec / float64(c.Seeds)
	}
	if rep.RealSuccess > 0 {
		rep.TransferRatio = rep.SimSuccess / rep.RealSuccess
	}
	if realRate > 0 {
		rep.Speedup = simRate / realRate
	}
	return rep, nil
}

// realEval loads the policy checkpoint in dir and plays it in the real
// env, on a locked OS thread (libtorch).
func realEval(ctx context.Context, dir string, env gym.Env, task string, seed int64, episodes int) (float64, error) {
	var succ float64
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("worldmodel: libtorch: %v", r)
			}
		}()
		dev, e := trainer.Setup(seed, 1)
		if e != nil {
			err = e
			return
		}
		p, e := trainer.LoadPolicy(dir, dev)
		if e != nil {
			err = fmt.Errorf("worldmodel: %w", e)
			return
		}
		succ, err = trainer.Evaluate(ctx, p, env, task, seed, episodes)
	})
	wg.Wait()
	return succ, err
}
