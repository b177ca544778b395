//go:build notorch

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Built with -tags notorch (the static container image): no libtorch,
// so training and the learned world model are not in this binary.

func newTrainCmd(*app) *cobra.Command { return notorchCmd("train") }

func newWorldModelCmd(*app) *cobra.Command { return notorchCmd("worldmodel") }

func newExperimentCmd(*app) *cobra.Command { return notorchCmd("experiment") }

func newEvalCmd(*app) *cobra.Command { return notorchCmd("eval") }

func newBenchTrainerCmd(*app) *cobra.Command { return notorchCmd("trainer") }

// newCheckpointPolicy: gym run --policy checkpoint:DIR needs libtorch.
func newCheckpointPolicy(dir string) (policy, error) {
	return nil, errors.New("--policy checkpoint:" + dir + ": this gym was built with -tags notorch (no libtorch); use a build from scripts/setup.sh")
}

func notorchCmd(name string) *cobra.Command {
	return &cobra.Command{
		Use:    name,
		Short:  "(not in this build: it was built without libtorch)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this gym was built with -tags notorch (no libtorch); use a build from scripts/setup.sh for " + name)
		},
	}
}
