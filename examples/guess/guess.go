// Package guess is the "write your own env" example: a complete env
// plugin in under 50 lines of author code. The agent guesses a secret
// number; the env answers "higher" or "lower".
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
type Env struct {
	secret, steps int
	done, closed  bool
}

// New is the factory handed to the registry.
func New(context.Context, map[string]any) (gym.Env, error) { return &Env{}, nil }

func (e *Env) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	e.secret, e.steps, e.done = rand.New(rand.NewPCG(uint64(o.Seed), 7)).IntN(100)+1, 0, false
	return gym.Observation{Text: "I picked a number from 1 to 100. Guess it."}, nil
}

func (e *Env) Step(_ context.Context, action string) (gym.StepResult, error) {
	switch {
	case e.closed:
		return gym.StepResult{}, gym.ErrClosed
	case e.secret == 0:
		return gym.StepResult{}, gym.ErrNotReset
	case e.done:
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	e.steps++ // invalid guesses count too, so every episode ends
	var n int
	var r gym.StepResult
	if _, err := fmt.Sscanf(action, "guess %d", &n); err != nil || n < 1 || n > 100 {
		r = gym.Invalid(gym.Observation{Text: "Guess a number from 1 to 100."}, `write "guess N" with 1 <= N <= 100`)
	} else if n < e.secret {
		r.Observation.Text = fmt.Sprintf("%d is too low: higher.", n)
	} else if n > e.secret {
		r.Observation.Text = fmt.Sprintf("%d is too high: lower.", n)
	} else {
		r = gym.StepResult{Observation: gym.Observation{Text: "Correct!", Info: map[string]any{"success": true}}, Reward: 1, Terminated: true}
	}
	r.Truncated = !r.Terminated && e.steps >= Spec.MaxSteps
	e.done = r.Done()
	return r, nil
}

func (e *Env) Spec() gym.Spec { return Spec }
func (e *Env) Close() error   { e.closed = true; return nil }
