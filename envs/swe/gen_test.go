package swe

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// testPackages are small GOROOT packages with quick tests.
var testPackages = []string{"container/list", "container/ring", "path", "encoding/hex"}

// testTasks generates (or loads from the shared cache) a few tasks.
func testTasks(t *testing.T, seed int64, n int) []Task {
	t.Helper()
	cache := filepath.Join(os.TempDir(), "envgym-swe-test-tasks")
	start := time.Now()
	tasks, err := Generate(context.Background(), GenConfig{Seed: seed, N: n, CacheDir: cache, Packages: testPackages})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tasks in %v", n, time.Since(start))
	return tasks
}

func TestGenerateDeterministic(t *testing.T) {
	a := testTasks(t, 1, 4)
	cache := t.TempDir()
	b, err := Generate(context.Background(), GenConfig{Seed: 1, N: 4, CacheDir: cache,
		Packages: []string{"container/list", "container/ring", "path", "encoding/hex"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		// Test output may print values that differ per run (maps, pointers
		// the mask misses); everything else must match.
		a[i].Repo, b[i].Repo = "", ""
		a[i].ProblemStatement, b[i].ProblemStatement = "", ""
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			ja, _ := json.MarshalIndent(a[i], "", " ")
			jb, _ := json.MarshalIndent(b[i], "", " ")
			t.Fatalf("same seed, different task %d:\n%s\n%s", i, ja, jb)
		}
	}
	for _, task := range testTasks(t, 1, 4) {
		if err := task.Validate(); err != nil {
			t.Fatal(err)
		}
		if len(task.FailToPass) == 0 || len(task.PassToPass) == 0 {
			t.Fatalf("%s: F2P %v P2P %v", task.InstanceID, task.FailToPass, task.PassToPass)
		}
		t.Logf("%s %s: %v", task.InstanceID, task.Mutation, task.FailToPass)
	}
}

// Tasks validated through schema binaries must behave as the standalone
// buggy repo does under a real `go test`: exactly FAIL_TO_PASS fail and
// PASS_TO_PASS pass; with the gold patch, all pass.
func TestGeneratedTasksHoldStandalone(t *testing.T) {
	ctx := context.Background()
	tasks := testTasks(t, 1, 4)
	for _, task := range tasks[:3] {
		t.Run(task.InstanceID, func(t *testing.T) {
			dir := t.TempDir()
			if err := copyTree(task.Repo, dir); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, task.BugPatch[0].Path)
			orig, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			buggy, err := applyEdit(string(orig), task.BugPatch[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name, src string
				failing   []string
			}{{"buggy", buggy, task.FailToPass}, {"fixed", string(orig), nil}} {
				if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := hostGoTest(ctx, dir, 2*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				rep := parseGoTestJSON(out)
				if got := sortedKeys(rep.Failed); !reflect.DeepEqual(got, c.failing) && !(len(got) == 0 && len(c.failing) == 0) {
					t.Errorf("%s (%s): failing %v, want %v", c.name, task.Mutation, got, c.failing)
				}
				want := append(append([]string(nil), task.PassToPass...), task.FailToPass...)
				if c.name == "buggy" {
					want = task.PassToPass
				}
				slices.Sort(want)
				if got := sortedKeys(rep.Passed); !reflect.DeepEqual(got, want) {
					t.Errorf("%s (%s): passing %v, want %v", c.name, task.Mutation, got, want)
				}
			}
		})
	}
}

// The shipped task set loads and validates (repos present, fields
// complete), holds 200 distinct tasks, and its first two are solved by
// the oracle and not by doing nothing.
func TestShippedTaskSet(t *testing.T) {
	tasks, err := LoadTaskFile(filepath.Join("testdata", "gomut-s0-n200", "tasks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, task := range tasks {
		ids[task.InstanceID] = true
	}
	if len(tasks) != 200 || len(ids) != 200 {
		t.Fatalf("%d tasks, %d distinct ids; want 200", len(tasks), len(ids))
	}
	e := testEnv(t, newTestBackend(t), tasks[:2])
	testOracleSolves(t, e, 2)
	testNoopAndCheat(t, testEnv(t, newTestBackend(t), tasks[:2]))
}
