package text

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

// FuzzStep plays arbitrary action lines in every text env: no panic, no
// error but ErrEpisodeDone after the end, and every step is OK or an
// INVALID_ACTION that says what was wrong.
func FuzzStep(f *testing.F) {
	for _, a := range []string{"look", "go north\ntake red key\nopen red door", "N\nE\nS\nW", "pick up the blue key.",
		"open west door", "", "   ", "\x00\xff", strings.Repeat("go ", 400), "take key\ntake key", "unlock 🙂 door"} {
		f.Add(int64(1), uint8(0), a)
	}
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, seed int64, which uint8, actions string) {
		ctx := context.Background()
		id := ids[int(which)%len(ids)]
		env, err := reg.Make(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer env.Close()
		tasks := env.Spec().Tasks
		task := tasks[int(which/2)%len(tasks)].ID
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: seed % 1000, TaskID: task}); err != nil {
			t.Fatalf("reset %s %s seed %d: %v", id, task, seed, err)
		}
		done := false
		for i, a := range strings.Split(actions, "\n") {
			if i == 64 {
				break
			}
			res, err := env.Step(ctx, a)
			if done {
				if !errors.Is(err, gym.ErrEpisodeDone) {
					t.Fatalf("step %q after the end: %v, want ErrEpisodeDone", a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("step %q: %v", a, err)
			}
			switch res.Status {
			case gym.StatusOK:
			case gym.StatusInvalidAction:
				if res.Observation.Info["error"] == nil || !strings.HasPrefix(res.Observation.Text, "Invalid action: ") {
					t.Fatalf("invalid %q without an explanation: %+v", a, res)
				}
			default:
				t.Fatalf("step %q: status %s", a, res.Status)
			}
			if res.Observation.Text == "" {
				t.Fatalf("step %q: empty observation", a)
			}
			done = res.Done()
		}
	})
}
