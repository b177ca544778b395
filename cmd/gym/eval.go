//go:build !notorch

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/torch"
	"github.com/envgym/envgym/trainer"
)

func newEvalCmd(a *app) *cobra.Command {
	var ckpt, envID, task string
	var episodes int
	var seed int64
	var greedy, inProcess bool
	cmd := &cobra.Command{
		Use:   "eval --checkpoint DIR --env ID",
		Short: "Evaluate a trained policy checkpoint (gym train --out DIR) on an env",
		Long: `Eval loads a checkpoint written by gym train --out (weights, tokenizer,
config) and plays --episodes episodes from seeds --seed, --seed+1, ...,
sampling from the policy (--greedy: its most likely action). Episodes that
end in CRASHED, TIMEOUT or ENV_ERROR are counted apart, not scored.`,
		Example: `  gym eval --checkpoint runs/ckpt --env text/maze-v0 --task easy --episodes 100
  gym eval --checkpoint runs/shop --env web/shop-v0 --episodes 20 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if episodes < 1 {
				return fmt.Errorf("--episodes %d: want at least 1", episodes)
			}
			reg := gym.NewRegistry()
			if inProcess {
				if err := registerInProcess(reg); err != nil {
					return err
				}
			} else {
				host := a.openHost()
				defer host.Close()
				if err := host.Register(reg); err != nil {
					a.warn("%v", err)
				}
			}
			spec, err := reg.Spec(envID)
			if err != nil {
				return fmt.Errorf("--env: %w (see gym list, or --in-process for text/* and web/shop-text-v0)", err)
			}
			if !cmd.Flags().Changed("task") && len(spec.Tasks) > 0 {
				task = spec.Tasks[0].ID
			}
			env, err := reg.Make(cmd.Context(), envID, nil)
			if err != nil {
				return fmt.Errorf("make %s: %w", envID, err)
			}
			defer env.Close()
			rep, err := evalCheckpoint(cmd.Context(), ckpt, env, task, seed, episodes, greedy)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			if a.json {
				return a.writeJSON(rep)
			}
			fmt.Fprintf(a.stdout, "%s %s, checkpoint %s on %s (%s): %d episodes\n", rep.EnvID, rep.Task, rep.Checkpoint, rep.Device,
				map[bool]string{true: "greedy", false: "sampled"}[rep.Greedy], rep.Episodes)
			fmt.Fprintf(a.stdout, "success %.3f  mean return %.3f  mean steps %.1f\n", rep.Success, rep.MeanReturn, rep.MeanSteps)
			if rep.InfraEpisodes > 0 {
				fmt.Fprintf(a.stdout, "%d episodes excluded (CRASHED/TIMEOUT/ENV_ERROR)\n", rep.InfraEpisodes)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ckpt, "checkpoint", "", "checkpoint directory written by gym train --out (required)")
	f.StringVar(&envID, "env", "", "env id (required)")
	f.StringVar(&task, "task", "", "task id (default: the env's first task)")
	f.IntVar(&episodes, "episodes", 50, "episodes to play")
	f.Int64Var(&seed, "seed", 10_000_001, "first episode seed (the default is gym train's held-out range for --seed 1)")
	f.BoolVar(&greedy, "greedy", false, "take the most likely action instead of sampling")
	f.BoolVar(&inProcess, "in-process", false, "run the env in this process instead of through its plugin (text/* and web/shop-text-v0)")
	_ = cmd.MarkFlagRequired("checkpoint")
	_ = cmd.MarkFlagRequired("env")
	return cmd
}

// evalCheckpoint runs trainer.EvalCheckpoint on a locked OS thread
// (libtorch's grad mode and gotch's last error are per thread).
func evalCheckpoint(ctx context.Context, dir string, env gym.Env, task string, seed int64, episodes int, greedy bool) (trainer.EvalReport, error) {
	var rep trainer.EvalReport
	err := torch.OnThread("eval", func() (err error) {
		rep, err = trainer.EvalCheckpoint(ctx, dir, env, task, seed, episodes, greedy)
		return err
	})
	return rep, err
}

// checkpointPolicy is gym run --policy checkpoint:DIR.
type checkpointPolicy struct{ a *trainer.Actor }

func (p *checkpointPolicy) Begin(seed int64) { p.a.Begin(seed) }

func (p *checkpointPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	return p.a.Act(ctx, obs)
}

// newCheckpointPolicy loads a trained policy for gym run.
func newCheckpointPolicy(dir string) (policy, error) {
	a, err := trainer.LoadActor(dir, 1)
	if err != nil {
		return nil, fmt.Errorf("--policy checkpoint:%s: %w", dir, err)
	}
	return &checkpointPolicy{a}, nil
}
