package web

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/envs/web/sites"
	"github.com/envgym/envgym/gym"
)

func TestShopOracle(t *testing.T) {
	e := makeEnv(t, "web/shop-v0")
	seeds := seedsFor(testing.Short())
	for _, seed := range seeds {
		res, steps := runOracle(t, e, seed, seed == 0 && testing.Verbose())
		if res.Reward != 1 || res.Observation.Info["success"] != true {
			runOracle(t, e, seed, true)
			t.Fatalf("seed %d: oracle got reward %v after %d steps: %v", seed, res.Reward, steps, res.Observation.Info)
		}
		t.Logf("seed %d: solved in %d steps", seed, steps)
	}
}

// TestShopPartialReward buys the right product with a wrong option and
// checks the partial credit the env reports.
func TestShopPartialReward(t *testing.T) {
	e := makeEnv(t, "web/shop-v0")
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 5}); err != nil {
		t.Fatal(err)
	}
	ep := rawEnv(e).ep.(*shopEpisode)
	o, _ := gym.Capable[gym.Oracle](e)
	for i := 0; i < 30; i++ {
		a, _ := o.OracleAction(ctx)
		if strings.Contains(rawEnv(e).page.URL, "/shop/item/") {
			// Skip choosing options: buy straight away.
			a = clickNode(findNode(&rawEnv(e).page, "button", "Buy Now"))
		}
		r, err := e.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done() {
			want := float64(len(ep.in.Attrs)+1+1) / float64(len(ep.in.Attrs)+1+len(ep.in.Options)+1)
			if diff := r.Reward - want; diff > 0.001 || diff < -0.001 || r.Observation.Info["success"] != false {
				t.Fatalf("reward %v, want %v (%v)", r.Reward, want, r.Observation.Info)
			}
			t.Logf("partial reward %v: %v", r.Reward, r.Observation.Info["score"])
			return
		}
	}
	t.Fatal("never bought")
}

// TestRandomPolicyLower plays uniformly random valid actions: far below
// the oracle's 1.0.
func TestRandomPolicyLower(t *testing.T) {
	r, _ := registry(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	ids := []string{"web/click-checkboxes-v0", "web/login-user-v0", "web/choose-date-v0", "web/email-inbox-forward-v0", "web/book-flight-v0", "web/shop-v0"}
	total, episodes := 0.0, 0
	for _, id := range ids {
		e, err := r.Make(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		for seed := int64(0); seed < 3; seed++ {
			obs, err := e.Reset(ctx, gym.ResetOptions{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < min(e.Spec().MaxSteps, 10); i++ {
				a := obs.ValidActions[rng.IntN(len(obs.ValidActions))]
				a = strings.ReplaceAll(a, "<text>", "abc")
				res, err := e.Step(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				obs = res.Observation
				if res.Done() {
					total += res.Reward
					break
				}
			}
			episodes++
		}
		e.Close()
	}
	mean := total / float64(episodes)
	t.Logf("random policy mean reward %.3f over %d episodes", mean, episodes)
	if mean > 0.3 {
		t.Fatalf("random policy too good: %.3f", mean)
	}
}

// TestInvalidActions: garbage and dead ids give INVALID_ACTION and leave
// the page as it was.
func TestInvalidActions(t *testing.T) {
	e := makeEnv(t, "web/form-fill-v0")
	ctx := context.Background()
	obs, err := e.Reset(ctx, gym.ResetOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := e.Step(ctx, `fill(1, "Zed")`); r.Status != gym.StatusOK {
		t.Fatalf("fill: %v", r.Observation.Text)
	}
	before, _ := browser.Eval[string](ctx, rawEnv(e).tab, "document.body.innerHTML + JSON.stringify(Array.from(document.querySelectorAll('input,select')).map(e => e.value + e.checked))")
	for i, a := range []string{"", "hello", "click(", "click(999)", `fill(6, "x")`, `select(1, "x")`, `check(6)`, `select(4, "Atlantis")`, `goto("http://example.com/")`, `goto("file:///etc/passwd")`, `press("NoSuchKey")`, "click(1) click(2)", `fill(1, "unterminated)`, "go_back()"} {
		r, err := e.Step(ctx, a)
		if err != nil {
			t.Fatalf("%q: %v", a, err)
		}
		// Invalid steps count toward the step limit: only the step that
		// reaches it may end the episode, truncated.
		atLimit := 2+i >= e.Spec().MaxSteps
		if r.Status != gym.StatusInvalidAction || r.Observation.Info["error"] == nil || r.Terminated || (r.Truncated && !atLimit) {
			t.Fatalf("%q: status %v done %v info %v", a, r.Status, r.Done(), r.Observation.Info)
		}
		if !strings.Contains(r.Observation.Text, "Last action error:") {
			t.Errorf("%q: the observation does not show the error", a)
		}
		t.Logf("%-28q -> %s", a, r.Observation.Info["error"])
	}
	after, _ := browser.Eval[string](ctx, rawEnv(e).tab, "document.body.innerHTML + JSON.stringify(Array.from(document.querySelectorAll('input,select')).map(e => e.value + e.checked))")
	if before != after {
		t.Fatalf("invalid actions changed the page:\n%s\n%s", before, after)
	}
	_ = obs
}

// TestCrashRecovery kills Chromium mid-episode: the step is CRASHED and
// truncated, and the next reset relaunches and works.
func TestCrashRecovery(t *testing.T) {
	r, s := registry(t)
	ctx := context.Background()
	e, err := r.Make(ctx, "web/click-button-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	pid := s.Browser().PID()
	if err := s.Browser().Kill(); err != nil {
		t.Fatal(err)
	}
	res, err := e.Step(ctx, "click(1)")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != gym.StatusCrashed || !res.Truncated {
		t.Fatalf("after kill: status %v truncated %v: %s", res.Status, res.Truncated, res.Observation.Text)
	}
	if _, err := e.Step(ctx, "noop()"); err == nil {
		t.Fatal("step after a crashed episode worked")
	}
	res2, steps := runOracle(t, e, 2, false)
	if res2.Reward != 1 {
		t.Fatalf("after relaunch the oracle failed: %v in %d steps", res2.Observation.Text, steps)
	}
	t.Logf("browser pid %d killed, relaunched as %d", pid, s.Browser().PID())
}

// TestNoLeaks resets 4 concurrent envs many times: tabs, browser
// contexts, Chromium processes and RSS stay flat.
func TestNoLeaks(t *testing.T) {
	r, s := registry(t)
	ctx := context.Background()
	// The check is 500 resets (WEBGYM_RESETS=500); the default
	// keeps the suite short on a shared 2-core machine.
	resets := 100
	if testing.Short() {
		resets = 40
	}
	if v, err := strconv.Atoi(os.Getenv("WEBGYM_RESETS")); err == nil && v > 0 {
		resets = v
	}
	envs := make([]gym.Env, 4)
	for i := range envs {
		var err error
		envs[i], err = r.Make(ctx, []string{"web/click-button-v0", "web/shop-v0", "web/form-fill-v0", "web/email-inbox-forward-v0"}[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer envs[i].Close()
		if _, err := envs[i].Reset(ctx, gym.ResetOptions{Seed: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	stats := func() browser.Stats {
		st, err := s.Browser().Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := stats()
	t.Logf("before: %+v, plugin RSS %.0f MiB", first, browser.SelfRSSMiB())
	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	for i, e := range envs {
		wg.Go(func() {
			for k := 0; k < resets/len(envs); k++ {
				if _, err := e.Reset(ctx, gym.ResetOptions{Seed: int64(k)}); err != nil {
					errs[i] = err
					return
				}
				if _, err := e.Step(ctx, "noop()"); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	last := stats()
	t.Logf("after %d resets: %+v, plugin RSS %.0f MiB", resets, last, browser.SelfRSSMiB())
	// Each reset takes a fresh context; the suite keeps a couple made
	// ahead (and one per env may still be closing), so the counts may
	// differ by those, never grow with the resets.
	spares := 2 + len(envs)
	if last.Targets > first.Targets+spares || last.BrowserContexts > first.BrowserContexts+spares {
		t.Fatalf("tabs/contexts leaked: %+v -> %+v", first, last)
	}
	if last.Processes > first.Processes+1+spares {
		t.Fatalf("chromium processes grew: %d -> %d", first.Processes, last.Processes)
	}
	for _, e := range envs {
		e.Close()
	}
	closed := stats()
	t.Logf("after closing the 4 envs: %+v", closed)
	if closed.BrowserContexts > first.BrowserContexts-4+spares {
		t.Errorf("closing envs left browser contexts: %+v", closed)
	}
}

func TestOpenWeb(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>Home</title><a href="/about">About us</a><input aria-label="Name" id="n"><button onclick="document.title='Hi '+document.getElementById('n').value">Greet</button>`)
	})
	mux.HandleFunc("/about", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>About</title><p>We were founded in 1999.</p>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "tasks.json")
	task := fmt.Sprintf(`[{"id": "greet", "start_url": %q, "goal": "Greet Ada.", "validator": "document.title === 'Hi Ada'"},
	 {"id": "year", "start_url": %q, "goal": "When was the company founded?", "validator": "return answer === '1999'"}]`, srv.URL, srv.URL)
	if err := os.WriteFile(file, []byte(task), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := registry(t)
	ctx := context.Background()
	e, err := r.Make(ctx, "web/open-v0", map[string]any{"task_file": file})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	obs, err := e.Reset(ctx, gym.ResetOptions{TaskID: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(obs.Text)
	res, _ := e.Step(ctx, `goto("https://example.com/")`)
	if res.Status != gym.StatusInvalidAction {
		t.Fatalf("goto to another host: %v", res.Status)
	}
	for _, a := range []string{`fill(2, "Ada")`, "click(3)"} {
		if res, err = e.Step(ctx, a); err != nil || res.Status != gym.StatusOK {
			t.Fatalf("%s: %v %v", a, err, res.Observation.Text)
		}
	}
	if !res.Terminated || res.Reward != 1 {
		t.Fatalf("greet not validated: %+v", res)
	}
	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "year"}); err != nil {
		t.Fatal(err)
	}
	if res, _ = e.Step(ctx, "click(1)"); !strings.Contains(res.Observation.Text, "1999") {
		t.Fatalf("about page: %s", res.Observation.Text)
	}
	if res, _ = e.Step(ctx, "go_back()"); res.Status != gym.StatusOK || !strings.Contains(res.Observation.Text, "Title: Home") {
		t.Fatalf("go_back: %s", res.Observation.Text)
	}
	if res, _ = e.Step(ctx, "go_forward()"); res.Status != gym.StatusOK || !strings.Contains(res.Observation.Text, "1999") {
		t.Fatalf("go_forward: %s", res.Observation.Text)
	}
	if res, _ = e.Step(ctx, "go_forward()"); res.Status != gym.StatusInvalidAction || !strings.Contains(res.Observation.Text, "no later page") {
		t.Fatalf("go_forward at the newest page: %v %s", res.Status, res.Observation.Text)
	}
	if res, _ = e.Step(ctx, "go_back()"); res.Status != gym.StatusOK || !strings.Contains(res.Observation.Text, "Title: Home") {
		t.Fatalf("go_back: %s", res.Observation.Text)
	}
	if res, _ = e.Step(ctx, `answer("1999")`); !res.Terminated || res.Reward != 1 {
		t.Fatalf("answer: %+v", res)
	}
}

func TestSpecs(t *testing.T) {
	r, _ := registry(t)
	ids := r.IDs()
	if len(ids) < len(sites.Tasks())+2 {
		t.Fatalf("ids: %v", ids)
	}
	for _, id := range ids {
		sp, _ := r.Spec(id)
		if id == shop.TextID { // the shop without a browser
			continue
		}
		if sp.Components["chromium"] == "" {
			t.Fatalf("%s: no chromium version", id)
		}
	}
	sp, _ := r.Spec("web/shop-v0")
	t.Logf("%d ids, chromium %s", len(ids), sp.Components["chromium"])
}

// TestStepLimit: every step counts, invalid ones too; the env itself
// truncates at Spec().MaxSteps and refuses steps after that.
func TestStepLimit(t *testing.T) {
	e := makeEnv(t, "web/choose-date-v0")
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	limit := e.Spec().MaxSteps
	for i := 1; i <= limit; i++ {
		r, err := e.Step(ctx, "click(999)")
		if err != nil {
			t.Fatal(err)
		}
		if r.Truncated != (i == limit) || r.Terminated {
			t.Fatalf("step %d of %d: truncated %v terminated %v", i, limit, r.Truncated, r.Terminated)
		}
	}
	if _, err := e.Step(ctx, "noop()"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Fatalf("step after the limit: %v, want ErrEpisodeDone", err)
	}
}

// TestOpenDefaultTask: web/open-v0 without a task plays its built-in
// example, and its scripted oracle solves it.
func TestOpenDefaultTask(t *testing.T) {
	e := makeEnv(t, "web/open-v0")
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	o, ok := gym.Capable[gym.Oracle](e)
	if !ok {
		t.Fatal("web/open-v0 has no oracle")
	}
	var r gym.StepResult
	for !r.Done() {
		a, err := o.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r, err = e.Step(ctx, a); err != nil || r.Status != gym.StatusOK {
			t.Fatalf("%s: %v %v %s", a, err, r.Status, r.Observation.Text)
		}
	}
	if r.Reward != 1 {
		t.Fatalf("the example's oracle ended with reward %v", r.Reward)
	}
}
