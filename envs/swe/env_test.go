package swe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

func testEnv(t *testing.T, b Backend, tasks []Task) *Env {
	t.Helper()
	e := &Env{spec: gym.Spec{ID: GenID, MaxSteps: 100}, backend: b,
		load: func(context.Context) ([]Task, error) { return tasks, nil }}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestOracleSolves(t *testing.T) {
	// Two tasks per backend keep the suite quick; Bench plays 50
	// (see README.md).
	tasks := testTasks(t, 1, 4)[:2]
	for _, bc := range testBackends() {
		t.Run(bc.name, func(t *testing.T) {
			testOracleSolves(t, testEnv(t, bc.make(t, limits{}), tasks), len(tasks))
		})
	}
}

// testOracleSolves plays the oracle on the first n tasks (seeds 0..n-1):
// every one must score 1, and the OracleAction must not move on unless
// its action is stepped.
func testOracleSolves(t *testing.T, e *Env, n int) {
	t.Helper()
	ctx := context.Background()
	var ready []float64
	for seed := range int64(n) {
		obs, err := e.Reset(ctx, gym.ResetOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		ready = append(ready, obs.Info["ready_ms"].(float64))
		var r gym.StepResult
		for i := 0; i < 5 && !r.Done(); i++ {
			a, err := e.OracleAction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := e.OracleAction(ctx); again != a {
				t.Fatalf("OracleAction changed without a step: %q then %q", a, again)
			}
			if r, err = e.Step(ctx, a); err != nil || r.Status != gym.StatusOK {
				t.Fatalf("step %q: %v %v %s", a, err, r.Status, r.Observation.Text)
			}
		}
		if r.Reward != 1 {
			t.Fatalf("task %d: oracle reward %v: %s", seed, r.Reward, r.Observation.Text)
		}
	}
	t.Logf("%d tasks solved; ready ms %v", n, ready)
}

func TestNoopAndCheatScoreZero(t *testing.T) {
	for _, bc := range testBackends() {
		t.Run(bc.name, func(t *testing.T) { testNoopAndCheat(t, testEnv(t, bc.make(t, limits{}), testTasks(t, 1, 4))) })
	}
}

func testNoopAndCheat(t *testing.T, e *Env) {
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

func TestBench(t *testing.T) {
	res, err := Bench(context.Background(), BenchConfig{Starts: 1, Resets: 2, Execs: 2, Dir: sandboxTestDir(t), GoCache: sharedTestGoCache(t),
		CacheDir: filepath.Join(os.TempDir(), "envgym-swe-test-tasks"), Packages: testPackages})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.StartP50MSDocker <= 0 || res.ExecP50MSNS <= 0 || res.ReadyP50MSDocker <= 0 || res.ReadyP50MSNS <= 0 {
		t.Fatalf("missing figures: %+v", res)
	}
}

// TestOracleSolves50 plays the oracle on 50 generated tasks on the
// namespace backend: every one must score 1.0. It took 6 min 40 s on the
// loaded 2-core machine (3 min 45 s generating, 2 min 55 s playing; load
// average ~35), over the suite's budget, so it runs when
// ENVGYM_SWE_ORACLE50=1 (`gym bench swe --episodes 50` plays the same on
// both backends).
func TestOracleSolves50(t *testing.T) {
	if os.Getenv("ENVGYM_SWE_ORACLE50") != "1" {
		t.Skip("50 oracle episodes take minutes: set ENVGYM_SWE_ORACLE50=1 to run them (see README.md)")
	}
	tasks := testTasks(t, 2, 50)
	start := time.Now()
	testOracleSolves(t, testEnv(t, newTestBackend(t), tasks), len(tasks))
	t.Logf("50 oracle episodes in %v", time.Since(start).Round(time.Millisecond))
}

// insertAboveTask writes a one-file Go module whose gold patch inserts
// lines above an existing one (the old text is still there after the
// edit), and its task file.
func insertAboveTask(t *testing.T, gold []Edit) string {
	t.Helper()
	dir := t.TempDir()
	repo := filepath.Join(dir, "clamp")
	os.MkdirAll(repo, 0o755)
	files := map[string]string{
		"go.mod": "module clamp\n\ngo 1.22\n",
		"clamp.go": "package clamp\n\n// Clamp limits v to [lo, hi].\nfunc Clamp(v, lo, hi int) int {\n" +
			"\tif v > hi {\n\t\treturn hi\n\t}\n\treturn v\n}\n",
		"clamp_test.go": "package clamp\n\nimport \"testing\"\n\n" +
			"func TestLow(t *testing.T) {\n\tif got := Clamp(-5, 0, 9); got != 0 {\n\t\tt.Fatalf(\"Clamp(-5, 0, 9) = %d\", got)\n\t}\n}\n\n" +
			"func TestHigh(t *testing.T) {\n\tif got := Clamp(15, 0, 9); got != 9 {\n\t\tt.Fatalf(\"Clamp(15, 0, 9) = %d\", got)\n\t}\n}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	task := Task{InstanceID: "clamp-low", Repo: "clamp", ProblemStatement: "Clamp ignores its lower bound.",
		GoldPatch: gold, FailToPass: []string{"TestLow"}, PassToPass: []string{"TestHigh"}}
	var b strings.Builder
	if err := WriteTasks(&b, []Task{task}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tasks.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOracleSolvesInsertAbove: a custom task whose gold patch inserts a
// check above an existing line. The oracle used to propose the same edit
// forever (100 steps, reward 0); trajectories record the task id.
func TestOracleSolvesInsertAbove(t *testing.T) {
	ctx := context.Background()
	path := insertAboveTask(t, []Edit{{Path: "clamp.go", Old: "\tif v > hi {\n", New: "\tif v < lo {\n\t\treturn lo\n\t}\n\tif v > hi {\n"}})
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	env, err := reg.Make(ctx, CustomID, map[string]any{"tasks": path, "sandbox_dir": sandboxTestDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if tasks := env.Spec().Tasks; len(tasks) != 1 || tasks[0].ID != "clamp-low" {
		t.Fatalf("spec tasks %v, want the task file's [clamp-low]", tasks)
	}
	oracle, err := play.Oracle(env)
	if err != nil {
		t.Fatal(err)
	}
	st, err := play.Episode(ctx, env, oracle, play.Options{MaxSteps: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Success || st.Steps != 2 || st.Final.Reward != 1 {
		t.Fatalf("oracle: %+v\n%s", st, st.Final.Observation.Text)
	}
}

func TestLoadTasksRejectsAmbiguousGoldPatch(t *testing.T) {
	path := insertAboveTask(t, []Edit{{Path: "clamp.go", Old: "\treturn", New: "\treturn "}})
	_, err := LoadTaskFile(path)
	if err == nil || !strings.Contains(err.Error(), "tasks line 1: field gold_patch[0].old: occurs 2 times in clamp.go") {
		t.Fatalf("an ambiguous gold edit loaded: %v", err)
	}
	path = insertAboveTask(t, []Edit{{Path: "clamp.go", Old: "nowhere", New: "x"}})
	if _, err := LoadTaskFile(path); err == nil || !strings.Contains(err.Error(), "gold_patch[0].old: occurs 0 times") {
		t.Fatalf("a gold edit that cannot apply loaded: %v", err)
	}
}
