package web

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/sites"
	"github.com/envgym/envgym/gym"
)

// suite returns a registry backed by one real Chromium for the test
// binary; Chromium missing is a failure, not a skip.
var testSuite = sync.OnceValues(func() (*Suite, error) {
	if _, err := browser.FindChromium(); err != nil {
		return nil, fmt.Errorf("the web env tests need a real Chromium: %w", err)
	}
	return New(Options{}), nil
})

func registry(t testing.TB) (*gym.Registry, *Suite) {
	t.Helper()
	s, err := testSuite()
	if err != nil {
		t.Fatal(err)
	}
	r := gym.NewRegistry()
	if err := s.Register(r); err != nil {
		t.Fatal(err)
	}
	return r, s
}

func makeEnv(t testing.TB, id string) gym.Env {
	t.Helper()
	r, _ := registry(t)
	e, err := r.Make(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rawEnv is the web env under the registry's wrappers.
func rawEnv(e gym.Env) *env {
	for {
		if x, ok := e.(*env); ok {
			return x
		}
		u, ok := e.(interface{ Unwrap() gym.Env })
		if !ok {
			panic(fmt.Sprintf("%T is not a web env", e))
		}
		e = u.Unwrap()
	}
}

// runOracle plays one episode with the env's oracle and returns the last
// step.
func runOracle(t testing.TB, e gym.Env, seed int64, verbose bool) (gym.StepResult, int) {
	t.Helper()
	ctx := context.Background()
	obs, err := e.Reset(ctx, gym.ResetOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if verbose {
		t.Logf("reset:\n%s", obs.Text)
	}
	o, _ := gym.Capable[gym.Oracle](e)
	max := e.Spec().MaxSteps
	var r gym.StepResult
	for i := 0; i < max; i++ {
		a, err := o.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err = e.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if verbose || r.Status != gym.StatusOK {
			t.Logf("step %d %s -> %s reward %v\n%s", i, a, r.Status, r.Reward, r.Observation.Text)
		}
		if r.Done() {
			return r, i + 1
		}
	}
	return r, max
}

// seedsFor is how many seeds the oracle tests play: 3 by default (the
// suite stays within a few minutes on a shared 2-core machine) and
// WEBGYM_SEEDS (20 for the full check) when set.
func seedsFor(short bool) []int64 {
	n := 3
	if v, err := strconv.Atoi(os.Getenv("WEBGYM_SEEDS")); err == nil && v > 0 {
		n = v
	}
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

// TestTasksSolvedByOracle: every task's oracle succeeds on every seed (20
// seeds, 3 with -short). Four workers share the one Chromium, as four env
// instances of a plugin would.
func TestTasksSolvedByOracle(t *testing.T) {
	r, _ := registry(t)
	seeds := seedsFor(testing.Short())
	type job struct {
		task string
		seed int64
	}
	jobs := make(chan job)
	var mu sync.Mutex
	failed := map[string]string{}
	solved := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			envs := map[string]gym.Env{}
			defer func() {
				for _, e := range envs {
					e.Close()
				}
			}()
			for j := range jobs {
				e, ok := envs[j.task]
				if !ok {
					var err error
					if e, err = r.Make(context.Background(), "web/"+j.task+"-v0", nil); err != nil {
						t.Error(err)
						continue
					}
					envs[j.task] = e
				}
				res, steps := runOracle(t, e, j.seed, false)
				mu.Lock()
				if res.Reward != 1 || res.Observation.Info["success"] != true {
					failed[j.task] += fmt.Sprintf("seed %d: reward %v after %d steps (%v); ", j.seed, res.Reward, steps, res.Status)
				} else {
					solved[j.task]++
				}
				mu.Unlock()
			}
		})
	}
	for _, seed := range seeds {
		for _, task := range sites.Tasks() {
			jobs <- job{task.Name, seed}
		}
	}
	close(jobs)
	wg.Wait()
	for _, task := range sites.Tasks() {
		if f := failed[task.Name]; f != "" {
			t.Errorf("%s: %s", task.Name, f)
		}
	}
	t.Logf("%d tasks x %d seeds: %v", len(sites.Tasks()), len(seeds), solved)
}

func TestObservationShape(t *testing.T) {
	e := makeEnv(t, "web/form-fill-v0")
	obs, err := e.Reset(context.Background(), gym.ResetOptions{Seed: 3, Options: map[string]any{"screenshot": true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\nvalid: %v", obs.Text, obs.ValidActions)
	for _, want := range []string{"Goal: Fill the form", "URL: /task/form-fill?seed=3", `textbox "First name" value=""`, `checkbox "I agree to the terms" unchecked`, `combobox "Country"`} {
		if !strings.Contains(obs.Text, want) {
			t.Errorf("observation lacks %q", want)
		}
	}
	if len(obs.Screenshot) < 8 || string(obs.Screenshot[1:4]) != "PNG" {
		t.Errorf("no PNG screenshot")
	}
}
