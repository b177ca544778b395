package web

import (
	"context"
	"fmt"
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

func seedsFor(short bool) []int64 {
	if short {
		return []int64{0, 1, 2}
	}
	s := make([]int64, 20)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

func TestTasksSolvedByOracle(t *testing.T) {
	r, _ := registry(t)
	seeds := seedsFor(testing.Short())
	for _, task := range sites.Tasks() {
		t.Run(task.Name, func(t *testing.T) {
			e, err := r.Make(context.Background(), "web/"+task.Name+"-v0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for _, seed := range seeds {
				res, steps := runOracle(t, e, seed, false)
				if res.Reward != 1 || res.Observation.Info["success"] != true {
					runOracle(t, e, seed, true)
					t.Fatalf("seed %d: oracle failed after %d steps: reward %v, info %v", seed, steps, res.Reward, res.Observation.Info)
				}
			}
		})
	}
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
