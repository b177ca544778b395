package swe

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/envgym/envgym/gym"
)

func testEnv(t *testing.T) *Env {
	t.Helper()
	tasks := testTasks(t, 1, 4)
	e := &Env{spec: gym.Spec{ID: GenID}, backend: newTestBackend(t),
		load: func(context.Context) ([]Task, error) { return tasks, nil }}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestOracleSolves(t *testing.T) {
	e := testEnv(t)
	ctx := context.Background()
	for seed := range int64(4) {
		obs, err := e.Reset(ctx, gym.ResetOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ready %v ms", obs.Info["ready_ms"])
		var r gym.StepResult
		for i := 0; i < 5 && !r.Done(); i++ {
			a, err := e.OracleAction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r, err = e.Step(ctx, a); err != nil || r.Status != gym.StatusOK {
				t.Fatalf("step %q: %v %v %s", a, err, r.Status, r.Observation.Text)
			}
		}
		if r.Reward != 1 {
			t.Fatalf("task %d: oracle reward %v: %s", seed, r.Reward, r.Observation.Text)
		}
	}
}

func TestNoopAndCheatScoreZero(t *testing.T) {
	e := testEnv(t)
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	// Garbage is INVALID_ACTION, and so are edits that leave the workspace.
	for _, a := range []string{"", "rm -rf /", `view(`, `frobnicate("x")`, `view("../../etc/passwd")`, `view("/etc/passwd")`,
		`str_replace("nope.go", "a", "b")`, `create("../x", "y")`} {
		r, err := e.Step(ctx, a)
		if err != nil || r.Status != gym.StatusInvalidAction {
			t.Errorf("%q: %v %v", a, err, r.Status)
		}
	}
	// Deleting the tests does not help: they are restored before grading.
	r, err := e.Step(ctx, `bash("rm -f *_test.go && ls")`)
	if err != nil || r.Status != gym.StatusOK {
		t.Fatalf("%v %v", err, r.Status)
	}
	r, err = e.Step(ctx, "submit()")
	if err != nil || r.Reward != 0 || !r.Terminated || r.Status != gym.StatusOK {
		t.Fatalf("no-op submit: %v reward %v %v %s", err, r.Reward, r.Status, r.Observation.Text)
	}
}

func TestLoadTasksErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.jsonl")
	os.WriteFile(p, []byte("{\"instance_id\":\"a\",\"repo\":\".\",\"problem_statement\":\"x\",\"FAIL_TO_PASS\":[\"T\"]}\n{\"instance_id\":\"b\",\"repo\":\".\",\"problem_statement\":\"x\",\"FAIL_TO_PASS\":[]}\n"), 0o644)
	_, err := LoadTaskFile(p)
	if err == nil || err.Error() != "swe: tasks line 2: field FAIL_TO_PASS: must list at least one test id" {
		t.Fatalf("got %v", err)
	}
}
