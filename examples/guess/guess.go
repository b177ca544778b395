// Package guess is the "write your own env" example: a complete env
// plugin in under 40 lines of author code. The agent guesses a secret
// number; the env answers "higher" or "lower". The registry keeps the
// call order and ends the episode at Spec.MaxSteps, so the env holds only
// its own state.
package guess

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/envgym/envgym/gym"
)

// Spec describes the env to the registry and to `gym list`.
var Spec = gym.Spec{ID: "example/guess-v0", Version: "0.1.0", MaxSteps: 10, Deterministic: true,
	Description: "Guess a secret number from 1 to 100; the env says higher or lower.",
	ActionSpace: `"guess N" with N an integer from 1 to 100`}

// Env holds one episode's state.
type Env struct{ secret int }

// New is the factory handed to the registry.
func New(context.Context, map[string]any) (gym.Env, error) { return &Env{}, nil }

func (e *Env) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	e.secret = rand.New(rand.NewPCG(uint64(o.Seed), 7)).IntN(100) + 1
	return gym.Observation{Text: "I picked a number from 1 to 100. Guess it."}, nil
}

func (e *Env) Step(_ context.Context, action string) (gym.StepResult, error) {
	var n int
	if _, err := fmt.Sscanf(action, "guess %d", &n); err != nil || n < 1 || n > 100 {
		return gym.Invalid(gym.Observation{Text: "Guess a number from 1 to 100."}, `write "guess N" with 1 <= N <= 100`), nil
	}
	switch {
	case n < e.secret:
		return gym.StepResult{Observation: gym.Observation{Text: fmt.Sprintf("%d is too low: higher.", n)}}, nil
	case n > e.secret:
		return gym.StepResult{Observation: gym.Observation{Text: fmt.Sprintf("%d is too high: lower.", n)}}, nil
	}
	return gym.StepResult{Observation: gym.Observation{Text: "Correct!"}, Reward: 1, Terminated: true}, nil
}

func (e *Env) Spec() gym.Spec { return Spec }
func (e *Env) Close() error   { return nil }
