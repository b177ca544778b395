//go:build !notorch

package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/experiment"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/trainer"
	"github.com/envgym/envgym/worldmodel"
)

// newWorldModelCmd is `gym worldmodel train|eval`: learned simulators of
// real envs (see package worldmodel).
func newWorldModelCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "worldmodel",
		Aliases: []string{"dream"},
		Short:   "Train and evaluate world models: learned simulators that stand in for real envs (dream/ ids)",
	}
	cmd.AddCommand(newWorldModelTrainCmd(a), newWorldModelEvalCmd(a), newSimToRealCmd(a))
	return cmd
}

// dataOptions say where transitions come from: trajectory files, or
// episodes collected from the real env (oracle/random/invalid mix).
type dataOptions struct {
	files    []string
	env      string
	task     string
	collect  int
	seed     int64
	maxSteps int
	save     string
}

func (d *dataOptions) flags(cmd *cobra.Command, seed int64) {
	cmd.Flags().StringSliceVar(&d.files, "data", nil, "trajectory JSONL files (from `gym run --out`)")
	cmd.Flags().StringVar(&d.env, "env", "", "real env id to collect from (with --collect) and to time")
	cmd.Flags().StringVar(&d.task, "task", "", "task id")
	cmd.Flags().IntVar(&d.collect, "collect", 0, "episodes to collect from --env instead of --data")
	cmd.Flags().Int64Var(&d.seed, "seed", seed, "first seed of the collected episodes")
	cmd.Flags().IntVar(&d.maxSteps, "max-steps", 0, "step cap per collected episode (0: the env's)")
	cmd.Flags().StringVar(&d.save, "save-data", "", "write the collected transitions to this JSONL file (readable by --data)")
}

func (d *dataOptions) load(ctx context.Context, reg *gym.Registry) ([]trajectory.Step, gym.Spec, error) {
	var spec gym.Spec
	if d.env != "" {
		var err error
		if spec, err = reg.Spec(d.env); err != nil {
			return nil, spec, err
		}
	}
	switch {
	case len(d.files) > 0:
		var all []trajectory.Step
		for _, f := range d.files {
			s, err := trajectory.ReadSteps(f)
			if err != nil {
				return nil, spec, err
			}
			all = append(all, s...)
		}
		return all, spec, nil
	case d.collect > 0 && d.env != "":
		env, err := reg.Make(ctx, d.env, nil)
		if err != nil {
			return nil, spec, err
		}
		defer env.Close()
		steps, err := worldmodel.Collect(ctx, env, worldmodel.CollectOptions{Episodes: d.collect, Seed: d.seed, Task: d.task, MaxSteps: d.maxSteps})
		if err == nil && d.save != "" {
			err = worldmodel.WriteSteps(d.save, steps)
		}
		return steps, env.Spec(), err
	}
	return nil, spec, fmt.Errorf("give --data FILES, or --env ID with --collect N")
}

func newWorldModelTrainCmd(a *app) *cobra.Command {
	var d dataOptions
	var out string
	var epochs int
	var seed int64
	cmd := &cobra.Command{
		Use:   "train (--data FILES | --env ID --collect N) --out DIR",
		Short: "Train a world model on real transitions and save it (model.json, weights.gob, buffer.jsonl)",
		Example: `  gym worldmodel train --env text/maze-v0 --task easy --collect 80 --out models/maze
  gym worldmodel train --data runs/shop.jsonl --env web/shop-v0 --out models/shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			host := a.openHost()
			defer host.Close()
			reg := gym.NewRegistry()
			if err := host.Register(reg); err != nil {
				a.warn("%v", err)
			}
			if err := addTextShop(reg); err != nil {
				return err
			}
			steps, spec, err := d.load(cmd.Context(), reg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "training on %d transitions\n", len(steps))
			m, err := worldmodel.Train(cmd.Context(), worldmodel.NewBuffer(steps), worldmodel.TrainConfig{
				Spec: spec, Epochs: epochs, Seed: seed,
				Progress: func(ep int, loss, acc float64) {
					fmt.Fprintf(a.stderr, "epoch %d/%d  loss %.4f  candidate acc %.3f\n", ep+1, cmp.Or(epochs, 12), loss, acc)
				},
			})
			if err != nil {
				return err
			}
			if err := m.Save(out); err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(m.Meta)
			}
			fmt.Fprintf(a.stdout, "saved %s: world model of %s (%d transitions), dream id %s\n",
				out, m.Meta.EnvID, m.Meta.Transitions, worldmodel.DreamID(m.Meta.EnvID))
			return nil
		},
	}
	d.flags(cmd, 0)
	cmd.Flags().StringVar(&out, "out", "", "model directory to write")
	cmd.Flags().IntVar(&epochs, "epochs", 0, "training epochs (0: 12)")
	cmd.Flags().Int64Var(&seed, "train-seed", 1, "libtorch seed")
	return cmd
}

func newWorldModelEvalCmd(a *app) *cobra.Command {
	var d dataOptions
	var model string
	var speedSteps int
	cmd := &cobra.Command{
		Use:   "eval --model DIR (--data HELDOUT | --collect N) [--json]",
		Short: "Fidelity of a world model on held-out episodes, and dream vs real steps/s measured in the same run",
		Example: `  gym worldmodel eval --model models/maze --task easy --collect 20 --seed 100000 --json
  gym worldmodel eval --model models/shop --data runs/shop-heldout.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return fmt.Errorf("--model DIR is required")
			}
			m, err := worldmodel.LoadModel(model)
			if err != nil {
				return err
			}
			host := a.openHost()
			defer host.Close()
			reg := gym.NewRegistry()
			if err := host.Register(reg); err != nil {
				a.warn("%v", err)
			}
			if err := addTextShop(reg); err != nil {
				return err
			}
			if d.env == "" {
				d.env = m.Meta.EnvID
			}
			held, _, err := d.load(cmd.Context(), reg)
			if err != nil {
				return err
			}
			opts := worldmodel.FidelityOptions{Task: d.task, SpeedSteps: speedSteps}
			if real, err := reg.Make(cmd.Context(), m.Meta.EnvID, nil); err == nil {
				defer real.Close()
				opts.Real = real
			} else {
				a.warn("real env %s not available, real steps/s not measured: %v", m.Meta.EnvID, err)
			}
			rep, err := worldmodel.Fidelity(cmd.Context(), m, held, opts)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(rep)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "world model of %s on %d held-out transitions (%d episodes)\n", rep.EnvID, rep.Transitions, rep.Episodes)
			fmt.Fprintf(&b, "  next obs exact %.3f  F1 %.3f   (copy baseline %.3f / %.3f)\n", rep.NextObsExact, rep.NextObsF1, rep.CopyExact, rep.CopyF1)
			fmt.Fprintf(&b, "  reward MAE %.4f acc %.3f (mean baseline MAE %.4f)\n", rep.RewardMAE, rep.RewardAcc, rep.MeanRewardMAE)
			fmt.Fprintf(&b, "  done acc %.3f  status acc %.3f  valid actions acc %.3f\n", rep.DoneAcc, rep.StatusAcc, rep.ValidActAcc)
			fmt.Fprintf(&b, "  confidence: correct %.3f, wrong %.3f\n", rep.ConfCorrect, rep.ConfWrong)
			for _, c := range rep.Calibration {
				fmt.Fprintf(&b, "    conf %s  n=%d  accuracy %.3f\n", c.Range, c.N, c.Accuracy)
			}
			fmt.Fprintf(&b, "  dream %.0f steps/s, real %.0f steps/s, speedup %.2fx\n", rep.DreamStepsPerS, rep.RealStepsPerS, rep.Speedup)
			_, err = fmt.Fprint(a.stdout, b.String())
			return err
		},
	}
	d.flags(cmd, 100_000)
	cmd.Flags().StringVar(&model, "model", "", "model directory (from `gym worldmodel train`)")
	cmd.Flags().IntVar(&speedSteps, "speed-steps", 500, "steps to time each env")
	return cmd
}

func newSimToRealCmd(a *app) *cobra.Command {
	var c experiment.SimToRealConfig
	var model, env string
	cmd := &cobra.Command{
		Use:   "sim-to-real --model DIR [--env ID] [--task T] [--seeds N] [--curriculum] [--out PLOT.png] [--json]",
		Short: "Train one policy only in the world model and one in the real env (equal env steps), evaluate both in the real env",
		Long: `sim-to-real trains PPO policies with the same settings and the same env-step
budget: one only in the world model's dream env, one in the real env (and,
with --curriculum, a third in the dream with DreamGym's curriculum: start
states where the policy's reward varies most, plus synthesised task
variations). All are evaluated on the same held-out seeds in --env (default:
the model's env); a model of web/shop-text-v0 can be evaluated in the Chromium
shop web/shop-v0 (the same pages), its real arm training in the text shop.
--bc N gives every arm of a seed the same behaviour-cloned warm start (oracle
episodes of the model's env). Text-entry templates (fill(N, "<text>")) are filled from the goal in every
arm (worldmodel.FillTemplates). JSON: sim_success, real_success (each with
its standard error and 95 % bootstrap CI), transfer_ratio with
transfer_ratio_ci95, speedup (dream arm's training steps/s ÷ real arm's).`,
		Example: `  gym experiment sim-to-real --model models/maze --task easy --seeds 3 --iters 12 --out maze-s2r.png --json
  gym experiment sim-to-real --model models/shop-text --env web/shop-v0 --bc 200 --iters 16 --steps 256 --seeds 3 --out shop-s2r.png --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return fmt.Errorf("--model DIR is required (train one: gym worldmodel train --env %s --collect N --out DIR)", cmp.Or(env, "ID"))
			}
			m, err := worldmodel.LoadModel(model)
			if err != nil {
				return err
			}
			textShop := m.Meta.EnvID == shop.TextID && env == "web/shop-v0"
			if env != "" && env != m.Meta.EnvID && !textShop {
				return fmt.Errorf("--env %s: the model in %s imitates %s (a model of %s may be evaluated in web/shop-v0)", env, model, m.Meta.EnvID, shop.TextID)
			}
			host := a.openHost()
			defer host.Close()
			reg := gym.NewRegistry()
			if err := host.Register(reg); err != nil {
				a.warn("%v", err)
			}
			if err := addTextShop(reg); err != nil {
				return err
			}
			c.Model, c.Real, c.EvalID = m, reg, env
			if strings.HasPrefix(m.Meta.EnvID, "web/") {
				c.Policy.GoalFeatures = trainer.NumGoalFeatures // as gym train on web/*
			}
			c.Progress = func(arm string, seed int64, st trainer.IterStats) {
				fmt.Fprintf(a.stderr, "%s seed %d iter %d: success %.2f, %.0f steps/s\n", arm, seed, st.Iter, st.Success, st.StepsPerSec)
			}
			rep, err := experiment.SimToReal(cmd.Context(), c)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(rep)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "sim-to-real on %s (%s): %s\n", rep.EnvID, rep.Task, rep.Budget)
			fmt.Fprintf(&b, "%-5s %-12s %-12s %-14s %-14s %-10s %-10s\n", "seed", "sim→real", "real→real", "sim in dream", "curric→real", "sim st/s", "real st/s")
			for _, r := range rep.Runs {
				fmt.Fprintf(&b, "%-5d %-12.3f %-12.3f %-14.3f %-14.3f %-10.0f %-10.0f\n", r.Seed, r.SimSuccess, r.RealSuccess, r.SimInDream, r.CurSuccess, r.SimStepsPerS, r.RealStepsPerS)
			}
			fmt.Fprintf(&b, "sim_success %.3f  real_success %.3f  transfer_ratio %.3f  speedup %.2fx  (untrained %.3f)\n", rep.SimSuccess, rep.RealSuccess, rep.TransferRatio, rep.Speedup, rep.Untrained)
			if c.Curriculum {
				fmt.Fprintf(&b, "with curriculum: sim_success %.3f  transfer_ratio %.3f\n", rep.CurSuccess, rep.CurTransferRatio)
			}
			if rep.Plot != "" {
				fmt.Fprintf(&b, "plot: %s\n", rep.Plot)
			}
			_, err = fmt.Fprint(a.stdout, b.String())
			return err
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model directory (from `gym worldmodel train`)")
	cmd.Flags().StringVar(&env, "env", "", "the real env id (checked against the model's)")
	cmd.Flags().StringVar(&c.Task, "task", "", "task id")
	cmd.Flags().IntVar(&c.Seeds, "seeds", 1, "training seeds per arm")
	cmd.Flags().IntVar(&c.BCEpisodes, "bc", 0, "oracle episodes of the model's env for the arms' shared warm start (0: none)")
	cmd.Flags().IntVar(&c.Iterations, "iters", 10, "PPO iterations per arm")
	cmd.Flags().IntVar(&c.StepsPerIter, "steps", 512, "env steps per iteration")
	cmd.Flags().IntVar(&c.NumEnvs, "envs", 8, "parallel envs per arm")
	cmd.Flags().IntVar(&c.EvalEpisodes, "eval-episodes", 50, "real-env evaluation episodes per policy")
	cmd.Flags().BoolVar(&c.Curriculum, "curriculum", false, "add an arm trained in the dream with the curriculum")
	cmd.Flags().IntVar(&c.Variations, "variations", 200, "synthesised task variations for the curriculum")
	cmd.Flags().StringVar(&c.Plot, "out", "", "write the plot (PNG) here")
	cmd.Flags().StringVar(&c.OutDir, "checkpoints", "", "keep the policy checkpoints here")
	return cmd
}

// addTextShop registers the browser-free shop in reg unless the plugins
// already serve it (a plugin dir installed before it existed does not).
func addTextShop(reg *gym.Registry) error {
	if _, err := reg.Spec(shop.TextID); err == nil {
		return nil
	}
	if err := shop.RegisterText(reg); err != nil {
		return fmt.Errorf("register %s: %w", shop.TextID, err)
	}
	return nil
}
