package phone

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/internal/chromium"
	"github.com/envgym/envgym/gym"
)

func newEnv(t *testing.T, s *Suite, opts map[string]any) *Env {
	t.Helper()
	e, err := s.New(gym.Spec{ID: "gui/phone-v0"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// runOracle plays one episode with the oracle and returns the last result.
func runOracle(t *testing.T, ctx context.Context, e *Env, task string, seed int64) (gym.StepResult, int) {
	t.Helper()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task}); err != nil {
		t.Fatalf("%s seed %d: reset: %v", task, seed, err)
	}
	var res gym.StepResult
	for n := 1; n <= MaxSteps; n++ {
		a, err := e.OracleAction(ctx)
		if err != nil {
			t.Fatalf("%s seed %d: oracle: %v", task, seed, err)
		}
		res, err = e.Step(ctx, a)
		if err != nil {
			t.Fatalf("%s seed %d: step %s: %v", task, seed, a, err)
		}
		if res.Status != gym.StatusOK {
			t.Fatalf("%s seed %d: step %s: %s: %s", task, seed, a, res.Status, res.Observation.Text)
		}
		if res.Done() {
			return res, n
		}
	}
	return res, MaxSteps
}

// seeds is how many seeds every oracle plays: 2 by default (to keep
// `go test` short), GUIGYM_SEEDS (10 for the full check) when set.
func seeds() int64 {
	if v, err := strconv.Atoi(os.Getenv("GUIGYM_SEEDS")); err == nil && v > 0 {
		return int64(v)
	}
	return 2
}

func TestOracleSolvesEveryTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	e := newEnv(t, NewSuite(Options{}), nil)
	if n := len(tasks()); n < 30 {
		t.Errorf("%d phone tasks, want >= 30", n)
	}
	for _, task := range tasks() {
		for seed := range seeds() {
			res, n := runOracle(t, ctx, e, task.id, seed)
			if res.Reward != 1 || !res.Terminated {
				t.Errorf("%s seed %d: reward %v after %d steps\n%s", task.id, seed, res.Reward, n, res.Observation.Text)
			}
		}
	}
}

func TestScreenshotAndA11y(t *testing.T) {
	ctx := context.Background()
	s := NewSuite(Options{})
	e := newEnv(t, s, map[string]any{"scale": 2.0})
	obs, err := e.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "contacts-add"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(obs.Screenshot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 824 || b.Dy() != 1830 {
		t.Errorf("screenshot %v, want 824x1830", b)
	}
	if !strings.Contains(obs.Text, `"text":"Contacts"`) {
		t.Errorf("a11y list lacks the Contacts icon:\n%s", obs.Text)
	}
	v := newEnv(t, s, map[string]any{"a11y": false})
	obs, err = v.Reset(ctx, gym.ResetOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(obs.Text, "UI element") {
		t.Errorf("a11y off still lists elements:\n%s", obs.Text)
	}
}

func TestInvalidActions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, NewSuite(Options{}), nil)
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 2, TaskID: "settings-toggle"}); err != nil {
		t.Fatal(err)
	}
	for act, field := range map[string]string{
		`{"action_type":"click","x":9999,"y":5}`:           "x",
		`{"action_type":"teleport"}`:                       "action_type",
		`{"action_type":"long_press","x":3}`:               "y",
		`{"action_type":"click","x":1,"y":1,"bogus":true}`: "bogus",
		`{"action_type":"open_app","app_name":"Maps"}`:     "app_name",
		`{"action_type":"input_text","text":"abc"}`:        "text",
	} {
		res, err := e.Step(ctx, act)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != gym.StatusInvalidAction || res.Observation.Info["field"] != field || !strings.Contains(res.Observation.Text, field) {
			t.Errorf("%s: %s field %v, want INVALID_ACTION naming %q\n%s", act, res.Status, res.Observation.Info["field"], field, res.Observation.Text)
		}
	}
	if scr, err := evalJS[string](ctx, e.tab, "phone.screen().app"); err != nil || scr != "home" {
		t.Errorf("invalid actions moved the phone: %q %v", scr, err)
	}
}

func TestRandomPolicyIsFarWorse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, NewSuite(Options{}), map[string]any{"a11y": false})
	w, h := e.ScreenSize()
	wins := 0
	const episodes = 10
	for i := range episodes {
		task := tasks()[i%len(tasks())].id
		if _, err := e.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: task}); err != nil {
			t.Fatal(err)
		}
		r := rngFor(int64(i), "random")
		for range 15 {
			res, err := e.Step(ctx, fmt.Sprintf(`{"action_type":"click","x":%d,"y":%d}`, r.IntN(w), r.IntN(h)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Done() {
				if res.Reward > 0 {
					wins++
				}
				break
			}
		}
	}
	if wins > 2 {
		t.Errorf("random clicking won %d of %d episodes", wins, episodes)
	}
	t.Logf("random policy: %d/%d", wins, episodes)
}

func TestCrashThenReset(t *testing.T) {
	ctx := context.Background()
	s := NewSuite(Options{})
	e := newEnv(t, s, nil)
	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "contacts-add"}); err != nil {
		t.Fatal(err)
	}
	pid := s.Browser.PID()
	if err := s.Browser.Kill(); err != nil {
		t.Fatal(err)
	}
	for chromium.PIDAlive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := e.Step(ctx, `{"action_type":"click","x":100,"y":400}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != gym.StatusCrashed || !res.Truncated {
		t.Fatalf("after kill: %s, want CRASHED", res.Status)
	}
	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "settings-toggle", Seed: 3}); err != nil {
		t.Fatalf("reset after crash: %v", err)
	}
	if res, _ := runOracle(t, ctx, e, "settings-toggle", 3); res.Reward != 1 {
		t.Errorf("after crash, oracle reward %v", res.Reward)
	}
	newPid := s.Browser.PID()
	e.Close()
	deadline := time.Now().Add(5 * time.Second)
	for chromium.PIDAlive(newPid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if chromium.PIDAlive(newPid) || s.Browser.PID() != 0 {
		t.Errorf("chromium %d still runs after the last env closed", newPid)
	}
}
