// Package benchenv is the trivial env `gym bench plugin` steps in process
// and through a plugin: it echoes the action and counts steps, so a Step
// costs a few hundred nanoseconds and what the benchmark measures is the
// plugin boundary, not the env.
package benchenv

import (
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/envgym/envgym/gym"
)

// ID is the env id the bench plugin serves.
const ID = "bench/echo-v0"

// EpisodeSteps is how many steps an episode lasts; the last one
// terminates it with reward 1 and info success=true.
const EpisodeSteps = 1000

// maxAction bounds the actions it echoes; longer ones are invalid.
const maxAction = 1024

// Spec returns the env's spec.
func Spec() gym.Spec {
	return gym.Spec{
		ID:               ID,
		Version:          "0.1.0",
		Description:      "Echoes the action back and counts steps: the floor under every env, for `gym bench plugin`.",
		ObservationSpace: "The last action, echoed.",
		ActionSpace:      "Any non-empty UTF-8 string of at most 1024 bytes.",
		Deterministic:    true,
		Tasks:            []gym.Task{{ID: "echo", Description: strconv.Itoa(EpisodeSteps) + " steps, then success"}},
	}
}

// Env is one echo env instance.
type Env struct {
	steps int
}

// New is the env's factory; it accepts no options.
func New(context.Context, map[string]any) (gym.Env, error) { return &Env{}, nil }

// Register adds the env to r.
func Register(r *gym.Registry) error { return r.Register(Spec(), New) }

var validActions = []string{"ping", "pong"}

func (e *Env) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	if o.TaskID != "" && o.TaskID != "echo" {
		return gym.Observation{}, gym.ErrUnknownTask
	}
	e.steps = 0
	return gym.Observation{Text: "ready", ValidActions: validActions}, nil
}

func (e *Env) Step(_ context.Context, action string) (gym.StepResult, error) {
	if action == "" || len(action) > maxAction || !utf8.ValidString(action) {
		return gym.Invalid(gym.Observation{Text: "ready", ValidActions: validActions}, "want a non-empty UTF-8 action of at most 1024 bytes"), nil
	}
	e.steps++
	r := gym.StepResult{Observation: gym.Observation{Text: action, ValidActions: validActions}}
	if e.steps >= EpisodeSteps {
		r.Reward, r.Terminated = 1, true
	}
	return r, nil
}

func (e *Env) Spec() gym.Spec { return Spec() }

func (e *Env) Close() error { return nil }
