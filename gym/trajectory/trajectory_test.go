package trajectory_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

type countdown struct{ n int }

func (c *countdown) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	c.n = 3
	return gym.Observation{Text: "3 left", ValidActions: []string{"tick"}}, nil
}

func (c *countdown) Step(_ context.Context, a string) (gym.StepResult, error) {
	if a != "tick" {
		return gym.Invalid(gym.Observation{Text: fmt.Sprintf("%d left", c.n)}, "say tick"), nil
	}
	c.n--
	r := gym.StepResult{Observation: gym.Observation{Text: fmt.Sprintf("%d left", c.n)}, Terminated: c.n == 0}
	if r.Terminated {
		r.Reward = 1
		r.Observation.Info = map[string]any{"success": true}
	}
	return r, nil
}

func (c *countdown) Spec() gym.Spec {
	return gym.Spec{ID: "test/countdown-v0", Version: "2", Components: map[string]string{"plugin_sha256": "abc"}}
}
func (c *countdown) Close() error { return nil }

func TestRecorderWritesStepsAndManifests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := trajectory.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	env := trajectory.Record(&countdown{}, w, "scripted")
	ctx := context.Background()
	for ep := 0; ep < 2; ep++ {
		env.Reset(ctx, gym.ResetOptions{Seed: int64(ep), TaskID: "t"})
		for _, a := range []string{"tick", "oops", "tick", "tick"} {
			env.Step(ctx, a)
		}
	}
	env.Reset(ctx, gym.ResetOptions{Seed: 9}) // unfinished: must not be written
	env.Step(ctx, "tick")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	steps, err := trajectory.ReadSteps(path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 8 || len(ms) != 2 {
		t.Fatalf("%d steps, %d manifests; want 8 and 2", len(steps), len(ms))
	}
	s := steps[1]
	if s.Action != "oops" || s.Status != gym.StatusInvalidAction || s.Grounded || s.Obs != "2 left" || s.Step != 1 {
		t.Fatalf("step record %+v", s)
	}
	m := ms[1]
	if m.EnvID != "test/countdown-v0" || m.EnvVersion != "2" || m.Seed != 1 || m.Steps != 4 || m.Return != 1 || !m.Success ||
		m.PluginSHA256 != "abc" || m.StatusCounts["INVALID_ACTION"] != 1 || m.Policy != "scripted" || m.End.Before(m.Start) {
		t.Fatalf("manifest %+v", m)
	}
	if steps[0].EpisodeID == steps[4].EpisodeID {
		t.Fatal("two episodes share an id")
	}
}

func TestRecorderPolicyInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := trajectory.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	env := trajectory.Record(&countdown{}, w, "llm")
	ctx := context.Background()
	env.SetPolicyInfo(map[string]any{"prompt_tokens": 1}) // before Reset: no step takes it
	env.Step(ctx, "tick")                                 // ErrNotReset-like: nothing recorded
	env.Reset(ctx, gym.ResetOptions{})
	for i, a := range []string{"tick", "tick", "tick"} {
		if i != 1 { // the middle step has no info
			env.SetPolicyInfo(map[string]any{"prompt_tokens": 100 + i, "completion_tokens": 7, "reply": "Action: " + a})
		}
		env.Step(ctx, a)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	steps, err := trajectory.ReadSteps(path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || len(ms) != 1 {
		t.Fatalf("%d steps, %d manifests; want 3 and 1", len(steps), len(ms))
	}
	// JSON numbers come back as float64.
	if got := steps[0].PolicyInfo["prompt_tokens"]; got != 100.0 || steps[0].PolicyInfo["reply"] != "Action: tick" {
		t.Errorf("step 0 policy_info %v", steps[0].PolicyInfo)
	}
	if steps[1].PolicyInfo != nil {
		t.Errorf("step 1 policy_info %v, want none (info goes to the next step only)", steps[1].PolicyInfo)
	}
	if got := steps[2].PolicyInfo["prompt_tokens"]; got != 102.0 {
		t.Errorf("step 2 policy_info %v", steps[2].PolicyInfo)
	}
	if ms[0].PromptTokens != 202 || ms[0].CompletionTokens != 14 {
		t.Errorf("manifest tokens %d/%d, want 202/14", ms[0].PromptTokens, ms[0].CompletionTokens)
	}
}
