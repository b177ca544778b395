//go:build !notorch

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/trainer"
)

func newBenchTrainerCmd(a *app) *cobra.Command {
	var bc trainer.BenchConfig
	var envID, task string
	var plugin bool
	cmd := &cobra.Command{
		Use:   "trainer",
		Short: "Trainer speed: rollout env steps/s, PPO updates/s, training tokens/s",
		Long: `Bench trainer times the libtorch trainer on an untrained policy (CUDA when
libtorch reports it, else CPU; --threads libtorch threads, 1 as in training):

  rollout_steps_per_s   env steps/s of a rollout over --envs envs (policy
                        forward + env step), --rollout steps
  updates_per_s         PPO minibatch updates/s (forward, backward, Adam step)
                        on --minibatch steps of that rollout, --updates updates
  train_tokens_per_s    input tokens (observation lines, history, candidates)
                        through forward + backward per second

The env runs in this process (text/*) unless --plugin is given.`,
		Example: `  gym bench trainer
  gym bench trainer --json
  gym bench trainer --env web/shop-v0 --plugin --rollout 256`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := gym.NewRegistry()
			if plugin {
				host := a.openHost()
				defer host.Close()
				if err := host.Register(reg); err != nil {
					a.warn("%v", err)
				}
			} else if err := text.Register(reg); err != nil {
				return fmt.Errorf("register text envs: %w", err)
			}
			spec, err := reg.Spec(envID)
			if err != nil {
				return fmt.Errorf("--env: %w", err)
			}
			if task == "" && len(spec.Tasks) > 0 {
				task = spec.Tasks[0].ID
			}
			bc.Registry, bc.EnvID, bc.Task = reg, envID, task
			res, err := trainer.Bench(cmd.Context(), bc)
			if err != nil {
				return fmt.Errorf("bench trainer: %w", err)
			}
			if a.json {
				return a.writeJSON(res)
			}
			fmt.Fprintf(a.stdout, "%s on %s, %d libtorch thread(s), %d envs\n", res.EnvID, res.Device, res.Threads, res.NumEnvs)
			fmt.Fprintf(a.stdout, "rollout_steps_per_s  %10.1f  (%d steps)\n", res.RolloutStepsPerS, res.RolloutSteps)
			fmt.Fprintf(a.stdout, "updates_per_s        %10.2f  (%d updates of %d steps)\n", res.UpdatesPerS, res.Updates, res.Minibatch)
			fmt.Fprintf(a.stdout, "train_tokens_per_s   %10.0f\n", res.TrainTokensPerS)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&envID, "env", text.MazeID, "env id")
	f.StringVar(&task, "task", "", "task id (default: the env's first task)")
	f.BoolVar(&plugin, "plugin", false, "make the env through its plugin (default: text/* in this process)")
	f.IntVar(&bc.NumEnvs, "envs", 8, "parallel envs in the rollout")
	f.IntVar(&bc.Rollout, "rollout", 1024, "env steps to time")
	f.IntVar(&bc.Updates, "updates", 20, "PPO minibatch updates to time")
	f.IntVar(&bc.Minibatch, "minibatch", 256, "steps per update")
	f.IntVar(&bc.Threads, "threads", 1, "libtorch intra-op threads")
	return cmd
}
