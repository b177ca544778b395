// Package broken holds envs that each break one rule of the contract, so
// tests can prove the conformance suite catches them.
package broken

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// SeedIgnored draws its target from a generator seeded with a constant:
// every seed plays the same episode.
type SeedIgnored struct {
	base
	target int64
}

func (e *SeedIgnored) Reset(ctx context.Context, o gym.ResetOptions) (gym.Observation, error) {
	e.n, e.target = 0, rand.New(rand.NewPCG(42, 0)).Int64N(3)+1
	return gym.Observation{Text: "count 0", ValidActions: []string{"inc", "dec"}}, nil
}

func (e *SeedIgnored) Step(_ context.Context, a string) (gym.StepResult, error) {
	r, err := e.step(a)
	r.Terminated = e.n == e.target
	return r, err
}

// ClockSeeded seeds its generator from the clock: two resets with the
// same seed differ from the first observation on.
type ClockSeeded struct{ SeedIgnored }

func (e *ClockSeeded) Reset(ctx context.Context, o gym.ResetOptions) (gym.Observation, error) {
	e.n, e.target = 0, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0)).Int64N(1000)+1
	return gym.Observation{Text: fmt.Sprintf("count 0, target %d", e.target), ValidActions: []string{"inc", "dec"}}, nil
}

// NoLimit is a correct env whose spec forgot MaxSteps.
type NoLimit struct{ base }

func (e *NoLimit) Step(_ context.Context, a string) (gym.StepResult, error) { return e.step(a) }
func (e *NoLimit) Spec() gym.Spec                                           { return specs["test/nolimit-v0"] }

// Counter is the correct base env with an oracle that solves it.
type Counter struct{ base }

func (e *Counter) Step(_ context.Context, a string) (gym.StepResult, error) { return e.step(a) }
func (e *Counter) OracleAction(context.Context) (string, error)             { return "inc", nil }

// BadOracle's oracle walks away from the goal.
type BadOracle struct{ Counter }

func (e *BadOracle) OracleAction(context.Context) (string, error) { return "dec", nil }

// Hanging never answers a step until its context ends.
type Hanging struct{ base }

func (e *Hanging) Step(ctx context.Context, _ string) (gym.StepResult, error) {
	<-ctx.Done()
	return gym.StepResult{}, ctx.Err()
}

var specs = map[string]gym.Spec{
	"test/nolimit-v0": {ID: "test/nolimit-v0", Version: "0.0.1"},
}

// Register adds the broken envs: test/nondeterministic-v0, leaky, panicky,
// seedignored, clockseeded, nolimit, badoracle, hanging, and the correct
// test/counter-v0 beside them.
func Register(r *gym.Registry) error {
	env := func(id string, f func(b base) gym.Env) gym.Factory {
		return func(context.Context, map[string]any) (gym.Env, error) { return f(base{id: id}), nil }
	}
	for id, f := range map[string]gym.Factory{
		"test/nondeterministic-v0": env("test/nondeterministic-v0", func(b base) gym.Env { return &Nondeterministic{b} }),
		"test/leaky-v0": func(context.Context, map[string]any) (gym.Env, error) {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return nil, err
			}
			go func() { select {} }() // never ends
			_ = f                     // never closed
			return &Leaky{base{id: "test/leaky-v0"}}, nil
		},
		"test/panicky-v0":     env("test/panicky-v0", func(b base) gym.Env { return &Panicky{b} }),
		"test/seedignored-v0": env("test/seedignored-v0", func(b base) gym.Env { return &SeedIgnored{base: b} }),
		"test/clockseeded-v0": env("test/clockseeded-v0", func(b base) gym.Env { return &ClockSeeded{SeedIgnored{base: b}} }),
		"test/nolimit-v0":     env("test/nolimit-v0", func(b base) gym.Env { return &NoLimit{b} }),
		"test/counter-v0":     env("test/counter-v0", func(b base) gym.Env { return &Counter{b} }),
		"test/badoracle-v0":   env("test/badoracle-v0", func(b base) gym.Env { return &BadOracle{Counter{b}} }),
		"test/hanging-v0":     env("test/hanging-v0", func(b base) gym.Env { return &Hanging{b} }),
	} {
		spec, ok := specs[id]
		if !ok {
			spec = gym.Spec{ID: id, Version: "0.0.1", MaxSteps: 10}
		}
		if err := r.Register(spec, f); err != nil {
			return err
		}
	}
	return nil
}
