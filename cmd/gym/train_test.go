//go:build !notorch

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainInProcess runs a tiny gym train on the in-process text env.
func TestTrainInProcess(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"train", "--env", "text/maze-v0", "--in-process", "--iterations", "1",
		"--steps-per-iter", "64", "--envs", "2", "--bc", "2", "--eval", "2", "--json"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Device   string `json:"device"`
		EnvSteps int    `json:"env_steps"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v: %s", err, out.String())
	}
	if rep.EnvSteps < 64 || rep.Device == "" {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(errb.String(), "iter   0") {
		t.Fatalf("no progress on stderr: %q", errb.String())
	}
}

func TestTrainBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--env", "text/nope-v0", "--in-process"},
		{"train", "--env", "text/maze-v0", "--in-process", "--algo", "dqn", "--iterations", "1"},
		{"train", "compare", "--env", "text/maze-v0", "--in-process", "--seeds", "0"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 1 {
			t.Errorf("%v: exit %d, want 1 (%s)", args, code, errb.String())
		}
	}
}

// gymIn runs the CLI in this process and fails the test on a non-zero exit.
func gymIn(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("gym %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// TestTrainOutResumeEvalRun: gym train --steps --out writes a checkpoint,
// metrics.jsonl, report.json and a learning-curve PNG; --resume continues
// the step count and the metrics; gym eval and gym run --policy
// checkpoint:DIR play the checkpoint.
func TestTrainOutResumeEvalRun(t *testing.T) {
	dir := t.TempDir()
	gymIn(t, "train", "--env", "text/maze-v0", "--in-process", "--steps", "128", "--steps-per-iter", "64",
		"--envs", "2", "--bc", "0", "--eval", "2", "--out", dir)
	lines := func() []map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for l := range strings.Lines(string(b)) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("metrics line %q: %v", l, err)
			}
			out = append(out, m)
		}
		return out
	}
	m := lines()
	if len(m) != 2 || m[1]["env_steps"].(float64) < 128 {
		t.Fatalf("metrics after --steps 128 at 64 per iteration: %v", m)
	}
	for _, f := range []string{"policy.ot", "tokenizer.json", "policy.json", "state.json", "report.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "curve.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("curve.png: %v", err)
	}

	// Resume to a budget of 256: two more iterations, appended.
	out := gymIn(t, "train", "--env", "text/maze-v0", "--in-process", "--steps", "256", "--steps-per-iter", "64",
		"--envs", "2", "--eval", "2", "--resume", dir, "--out", dir, "--json")
	var rep struct {
		EnvSteps int `json:"env_steps"`
		Iters    []struct {
			Iter int `json:"iter"`
		} `json:"iters"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.EnvSteps < 256 || len(rep.Iters) != 2 || rep.Iters[0].Iter != 2 {
		t.Fatalf("resumed run: %d env steps, iterations %+v; want >= 256 and iterations 2, 3", rep.EnvSteps, rep.Iters)
	}
	if m := lines(); len(m) != 4 {
		t.Fatalf("metrics after resume: %d lines, want 4", len(m))
	}

	var ev struct {
		Episodes int      `json:"episodes"`
		Success  *float64 `json:"success"`
		Steps    float64  `json:"mean_steps"`
	}
	if err := json.Unmarshal([]byte(gymIn(t, "eval", "--checkpoint", dir, "--env", "text/maze-v0", "--in-process",
		"--episodes", "3", "--json")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Episodes != 3 || ev.Success == nil || ev.Steps <= 0 {
		t.Fatalf("eval: %+v", ev)
	}

	var sum struct {
		Episodes  int     `json:"episodes"`
		MeanSteps float64 `json:"mean_steps"`
		Policy    string  `json:"policy"`
	}
	if err := json.Unmarshal([]byte(gymIn(t, "--plugin-dir", pluginDir, "run", "text/maze-v0", "--task", "easy",
		"--policy", "checkpoint:"+dir, "--episodes", "2", "--json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Episodes != 2 || sum.MeanSteps <= 0 || sum.Policy != "checkpoint:"+dir {
		t.Fatalf("run --policy checkpoint: %+v", sum)
	}
}

func TestBenchTrainerJSON(t *testing.T) {
	var res map[string]float64
	out := gymIn(t, "bench", "trainer", "--rollout", "64", "--updates", "2", "--minibatch", "32", "--envs", "2", "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	res = map[string]float64{}
	for _, k := range []string{"rollout_steps_per_s", "updates_per_s", "train_tokens_per_s"} {
		v, ok := raw[k].(float64)
		if !ok || v <= 0 {
			t.Fatalf("%s = %v in %s", k, raw[k], out)
		}
		res[k] = v
	}
	t.Logf("%v", res)
}

// TestExperimentSPAVsOutcome: the experiment's JSON keys and its plot.
func TestExperimentSPAVsOutcome(t *testing.T) {
	dir := t.TempDir()
	out := gymIn(t, "experiment", "spa-vs-outcome", "--env", "text/maze-v0", "--in-process", "--seeds", "2",
		"--steps", "64", "--steps-per-iter", "32", "--envs", "2", "--bc", "2", "--eval", "2", "--out", dir, "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"spa_success", "outcome_success", "delta_pts", "delta_ci95", "seeds", "eval_episodes", "env_steps"} {
		if _, ok := rep[k]; !ok {
			t.Fatalf("no %q in %s", k, out)
		}
	}
	if s := rep["seeds"].([]any); len(s) != 2 || rep["env_steps"].(float64) < 64 {
		t.Fatalf("seeds %v, env_steps %v", rep["seeds"], rep["env_steps"])
	}
	if ci := rep["delta_ci95"].([]any); len(ci) != 2 || ci[0].(float64) > ci[1].(float64) {
		t.Fatalf("delta_ci95 %v: want two numbers, low first", ci)
	}
	d := 100 * (rep["spa_success"].(float64) - rep["outcome_success"].(float64))
	if math.Abs(d-rep["delta_pts"].(float64)) > 1e-9 {
		t.Fatalf("delta_pts %v, want %v", rep["delta_pts"], d)
	}
	f, err := os.Open(filepath.Join(dir, "curves.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("curves.png: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "compare.json")); err != nil {
		t.Fatal(err)
	}
}
