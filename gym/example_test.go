package gym_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/envgym/envgym/gym"
)

// countdown is a whole env: it holds its state and implements reset and
// step; the registry adds the call-order guard and the step limit.
type countdown struct{ left int }

func (c *countdown) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	c.left = 3 + int(o.Seed)
	return gym.Observation{Text: fmt.Sprintf("%d to go", c.left), ValidActions: []string{"tick"}}, nil
}

func (c *countdown) Step(_ context.Context, action string) (gym.StepResult, error) {
	if action != "tick" {
		return gym.Invalid(gym.Observation{Text: strconv.Itoa(c.left) + " to go"}, `the only action is "tick"`), nil
	}
	c.left--
	if c.left == 0 {
		return gym.StepResult{Observation: gym.Observation{Text: "liftoff"}, Reward: 1, Terminated: true}, nil
	}
	return gym.StepResult{Observation: gym.Observation{Text: fmt.Sprintf("%d to go", c.left), ValidActions: []string{"tick"}}}, nil
}

func (c *countdown) Spec() gym.Spec {
	return gym.Spec{ID: "example/countdown-v0", Version: "1", MaxSteps: 10}
}
func (c *countdown) Close() error { return nil }

func newRegistry() *gym.Registry {
	reg := gym.NewRegistry()
	reg.MustRegister((&countdown{}).Spec(), func(context.Context, map[string]any) (gym.Env, error) {
		return &countdown{}, nil
	})
	return reg
}

// Make an env by id, reset it with a seed and step it to the end.
func ExampleRegistry_Make() {
	ctx := context.Background()
	env, err := newRegistry().Make(ctx, "example/countdown-v0", nil)
	if err != nil {
		panic(err)
	}
	defer env.Close()
	obs, _ := env.Reset(ctx, gym.ResetOptions{Seed: 0})
	fmt.Println(obs.Text)
	for _, a := range []string{"tock", "tick", "tick", "tick"} {
		r, _ := env.Step(ctx, a)
		fmt.Printf("%s -> %s %q reward %g done %v\n", a, r.Status, strings.SplitN(r.Observation.Text, "\n", 2)[0], r.Reward, r.Done())
	}
	_, err = env.Step(ctx, "tick")
	fmt.Println(err)
	// Output:
	// 3 to go
	// tock -> INVALID_ACTION "Invalid action: the only action is \"tick\"" reward 0 done false
	// tick -> OK "2 to go" reward 0 done false
	// tick -> OK "1 to go" reward 0 done false
	// tick -> OK "liftoff" reward 1 done true
	// gym: step after the episode ended; call Reset
}

// Wrappers compose: a shorter step limit, then the last actions shown in
// each observation.
func ExampleWithHistory() {
	ctx := context.Background()
	env, _ := newRegistry().Make(ctx, "example/countdown-v0", nil)
	env = gym.WithHistory(gym.WithTimeLimit(env, 2), 1)
	env.Reset(ctx, gym.ResetOptions{Seed: 5})
	env.Step(ctx, "tick")
	r, _ := env.Step(ctx, "tick")
	fmt.Println(r.Observation.Text)
	fmt.Println("truncated:", r.Truncated, r.Observation.Info[gym.InfoTruncatedBy])
	// Output:
	// Previous actions:
	// 1. tick -> OK
	//
	// 6 to go
	// truncated: true time limit of 2 steps
}

// A Vector steps several instances at once and resets each as its
// episode ends.
func ExampleVector() {
	ctx := context.Background()
	reg := newRegistry()
	envs := make([]gym.Env, 2)
	for i := range envs {
		envs[i], _ = reg.Make(ctx, "example/countdown-v0", nil)
	}
	v := gym.NewVector(envs)
	defer v.Close()
	obs, _ := v.Reset(ctx, gym.ResetOptions{Seed: 0}) // instance i plays seed i
	fmt.Println(obs[0].Text, "|", obs[1].Text)
	for range 3 {
		steps, _ := v.Step(ctx, []string{"tick", "tick"})
		for i, s := range steps {
			if s.Done() {
				fmt.Printf("env %d: %s, next episode: %s\n", i, s.Observation.Text, s.Reset.Text)
			}
		}
	}
	// Output:
	// 3 to go | 4 to go
	// env 0: liftoff, next episode: 5 to go
}
