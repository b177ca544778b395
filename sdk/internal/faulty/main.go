// Command faulty is a test plugin whose env misbehaves on demand, for the
// host's crash, hang, panic and isolation tests: the action "crash" exits
// the process, "hang" blocks forever ignoring its context, "panic"
// panics, "slow" sleeps 300 ms, "net" reports the network it sees, and
// "fail STATUS" returns that status (e.g. ENV_ERROR) without ending the
// episode, the sandbox probes of sandbox.go ("readfile PATH", "writefile PATH",
// "forkbomb", "membomb", "netns"); "closemark PATH" makes the env's Close
// take 500 ms and then write PATH; anything else echoes.
package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

type env struct {
	steps     int
	closeMark string
}

func (e *env) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	e.steps = 0
	return gym.Observation{Text: "ready"}, nil
}

func (e *env) Step(ctx context.Context, action string) (gym.StepResult, error) {
	e.steps++
	switch action {
	case "crash":
		os.Exit(3)
	case "hang":
		select {}
	case "panic":
		panic("asked to panic")
	case "slow":
		time.Sleep(300 * time.Millisecond)
	case "net":
		// Report whether the sandbox lets us reach a non-loopback address.
		return gym.StepResult{Observation: gym.Observation{Text: netProbe()}}, nil
	}
	if name, ok := strings.CutPrefix(action, "fail "); ok {
		// An infrastructure failure reported the way envs used to: the
		// status alone, the episode left open (the host must truncate).
		st, err := gym.ParseStatus(name)
		if err != nil {
			return gym.Invalid(gym.Observation{Text: "ready"}, err.Error()), nil
		}
		return gym.StepResult{Observation: gym.Observation{Text: "failed: " + name}, Status: st}, nil
	}
	if p, ok := strings.CutPrefix(action, "closemark "); ok {
		e.closeMark = p
		return gym.StepResult{Observation: gym.Observation{Text: "will mark " + p}}, nil
	}
	if text, ok := sandboxProbe(ctx, action); ok {
		return gym.StepResult{Observation: gym.Observation{Text: text}}, nil
	}
	return gym.StepResult{Observation: gym.Observation{Text: "echo " + action}, Reward: 1, Terminated: e.steps >= 3}, nil
}

// ValidActions makes the env have one capability, for discovery tests.
func (e *env) ValidActions(context.Context) ([]string, error) { return []string{"a", "b"}, nil }

func (e *env) Spec() gym.Spec { return gym.Spec{ID: "test/faulty-v0", Version: "0.0.1"} }
func (e *env) Close() error {
	if e.closeMark != "" {
		time.Sleep(500 * time.Millisecond)
		return os.WriteFile(e.closeMark, []byte("closed\n"), 0o644)
	}
	return nil
}

func main() {
	sdk.ServeEnv(gym.Spec{ID: "test/faulty-v0", Version: "0.0.1"}, func(context.Context, map[string]any) (gym.Env, error) {
		return &env{}, nil
	})
}
