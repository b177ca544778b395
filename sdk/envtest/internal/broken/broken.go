// Package broken holds envs that each break one rule of the contract, so
// tests can prove the conformance suite catches them.
package broken

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
)

// base is a correct little counter env the broken ones start from. Like
// every env it leaves call order and the step limit to the registry's
// gym.Enforced.
type base struct {
	id      string
	n, seed int64
	closed  bool
}

func (e *base) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	e.n, e.seed = 0, o.Seed
	return gym.Observation{Text: fmt.Sprintf("count 0 (seed %d)", o.Seed), ValidActions: []string{"inc", "dec"}}, nil
}

func (e *base) step(action string) (gym.StepResult, error) {
	var r gym.StepResult
	switch action {
	case "inc":
		e.n++
	case "dec":
		e.n--
	default:
		r = gym.Invalid(gym.Observation{Text: "say inc or dec", ValidActions: []string{"inc", "dec"}}, "unknown action")
	}
	if r.Status == gym.StatusOK {
		r.Observation = gym.Observation{Text: fmt.Sprintf("count %d", e.n), ValidActions: []string{"inc", "dec"}}
	}
	r.Terminated = e.n >= 3
	if r.Terminated {
		r.Reward = 1
	}
	return r, nil
}

func (e *base) Spec() gym.Spec { return gym.Spec{ID: e.id, Version: "0.0.1", MaxSteps: 10} }
func (e *base) Close() error   { e.closed = true; return nil }

// Nondeterministic leaks the wall clock into observations.
type Nondeterministic struct{ base }

func (e *Nondeterministic) Step(_ context.Context, a string) (gym.StepResult, error) {
	r, err := e.step(a)
	r.Observation.Text += fmt.Sprintf(" at %d", time.Now().UnixNano())
	return r, err
}

// Leaky starts a goroutine and opens a file per instance and never
// releases them.
type Leaky struct{ base }

func (e *Leaky) Step(_ context.Context, a string) (gym.StepResult, error) {
	return e.step(a)
}

// Panicky panics on actions it does not understand.
type Panicky struct{ base }

func (e *Panicky) Step(_ context.Context, a string) (gym.StepResult, error) {
	if a != "inc" && a != "dec" {
		panic("cannot parse " + strings.ToValidUTF8(a[:min(len(a), 20)], "?"))
	}
	return e.step(a)
}

// Register adds test/nondeterministic-v0, test/leaky-v0, test/panicky-v0.
func Register(r *gym.Registry) error {
	for id, f := range map[string]gym.Factory{
		"test/nondeterministic-v0": func(context.Context, map[string]any) (gym.Env, error) {
			return &Nondeterministic{base{id: "test/nondeterministic-v0"}}, nil
		},
		"test/leaky-v0": func(context.Context, map[string]any) (gym.Env, error) {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return nil, err
			}
			go func() { select {} }() // never ends
			_ = f                     // never closed
			return &Leaky{base{id: "test/leaky-v0"}}, nil
		},
		"test/panicky-v0": func(context.Context, map[string]any) (gym.Env, error) {
			return &Panicky{base{id: "test/panicky-v0"}}, nil
		},
	} {
		if err := r.Register(gym.Spec{ID: id, Version: "0.0.1", MaxSteps: 10}, f); err != nil {
			return err
		}
	}
	return nil
}
