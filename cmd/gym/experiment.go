//go:build !notorch

package main

import "github.com/spf13/cobra"

// newExperimentCmd groups the experiments that answer the project's two
// research claims. Each subcommand is defined beside the code it runs
// (train.go, dream.go) so that the two stay in step.
func newExperimentCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Run the project's experiments: SPA vs outcome rewards, sim-to-real transfer",
		Long: `experiment runs a whole comparison and prints a table, a plot and JSON.

  gym experiment spa-vs-outcome --env text/maze-v0 --seeds 3 --json
      two PPO arms, outcome-only and SPA stepwise rewards, at an equal env-step
      budget and the same warm start; success mean ± sd over the seeds.

  gym experiment sim-to-real --model models/shop --env web/shop-v0 --seeds 3 --out s2r.png --json
      one policy trained only in the world model, one in the real env (equal
      env steps), both evaluated in the real env; --curriculum adds a dream arm
      with DreamGym's curriculum.`,
	}
	spa := newTrainCompareCmd(a)
	spa.Use = "spa-vs-outcome --env ID"
	s2r := newSimToRealCmd(a)
	s2r.Use = "sim-to-real --model DIR [--env ID] [--task T] [--seeds N] [--curriculum] [--out PLOT.png] [--json]"
	cmd.AddCommand(spa, s2r)
	return cmd
}
