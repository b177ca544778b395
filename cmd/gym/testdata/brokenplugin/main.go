// Command brokenplugin serves an env that breaks the contract on
// purpose, so `gym check` must fail on it: its observations depend on the
// wall clock, not the seed, and it accepts any garbage as a valid action.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

var spec = gym.Spec{ID: "test/broken-v0", Version: "0.0.1", MaxSteps: 5, Deterministic: true,
	Tasks: []gym.Task{{ID: "only"}}, ActionSpace: "anything"}

type env struct {
	steps int
	reset bool
}

func (e *env) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	e.steps, e.reset = 0, true
	return gym.Observation{Text: fmt.Sprint(time.Now().UnixNano()), ValidActions: []string{"a"}}, nil
}

func (e *env) Step(_ context.Context, action string) (gym.StepResult, error) {
	if !e.reset {
		return gym.StepResult{}, gym.ErrNotReset
	}
	e.steps++
	return gym.StepResult{Observation: gym.Observation{Text: fmt.Sprint(time.Now().UnixNano()), ValidActions: []string{"a"}},
		Terminated: e.steps >= 5}, nil
}

func (e *env) Spec() gym.Spec { return spec }
func (e *env) Close() error   { return nil }

func main() {
	sdk.ServeEnv(spec, func(context.Context, map[string]any) (gym.Env, error) {
		return &env{}, nil
	})
}
