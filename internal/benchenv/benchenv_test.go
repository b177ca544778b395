package benchenv

import (
	"context"
	"errors"
	"testing"

	"github.com/envgym/envgym/gym"
)

func TestEpisode(t *testing.T) {
	ctx := context.Background()
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	env, err := reg.Make(ctx, ID, nil) // as a plugin serves it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Step(ctx, "ping"); !errors.Is(err, gym.ErrNotReset) {
		t.Fatalf("step before reset: %v", err)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := env.Step(ctx, ""); r.Status != gym.StatusInvalidAction {
		t.Fatalf("empty action: status %v", r.Status)
	}
	var r gym.StepResult
	for i := 0; i < EpisodeSteps; i++ {
		var err error
		if r, err = env.Step(ctx, "ping"); err != nil {
			t.Fatal(err)
		}
		if r.Observation.Text != "ping" {
			t.Fatalf("echo: %q", r.Observation.Text)
		}
	}
	if !r.Terminated || r.Reward != 1 {
		t.Fatalf("last step: %+v", r)
	}
	if _, err := env.Step(ctx, "ping"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Fatalf("step after done: %v", err)
	}
}

func BenchmarkStep(b *testing.B) {
	ctx := context.Background()
	env, _ := New(ctx, nil)
	_, _ = env.Reset(ctx, gym.ResetOptions{})
	for b.Loop() {
		r, _ := env.Step(ctx, "ping")
		if r.Done() {
			_, _ = env.Reset(ctx, gym.ResetOptions{})
		}
	}
}
