package view

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/envs/web"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// fixture is a set of runs recorded with the real Recorder from real envs
// (the text maze and the Chromium web shop), plus copies damaged the way
// interrupted or edited runs are.
type fixture struct {
	dir                              string
	oracle, deviant, shop, faulty    string // steps files
	truncated, noSteps, mixed, train string
	deviateAt                        int
	shopSteps                        []trajectory.Step
}

var fx fixture

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "envgym-view-test")
	if err != nil {
		panic(err)
	}
	code := func() int {
		if err := record(dir); err != nil {
			fmt.Fprintln(os.Stderr, "recording the fixture runs:", err)
			return 2
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pick chooses an episode's action at step n.
type pick func(ctx context.Context, env gym.Env, obs gym.Observation, n int) (string, error)

func oracle(ctx context.Context, env gym.Env, _ gym.Observation, _ int) (string, error) {
	o, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		return "", fmt.Errorf("%s has no oracle", env.Spec().ID)
	}
	return o.OracleAction(ctx)
}

func play(ctx context.Context, path string, env gym.Env, screenshots bool, policy string, task string, seeds int, choose pick) error {
	w, err := trajectory.Create(path)
	if err != nil {
		return err
	}
	defer w.Close()
	rec := trajectory.Record(env, w, policy)
	rec.Screenshots = screenshots
	for seed := range seeds {
		obs, err := rec.Reset(ctx, gym.ResetOptions{Seed: int64(seed), TaskID: task})
		if err != nil {
			return err
		}
		for n := 0; ; n++ {
			act, err := choose(ctx, env, obs, n)
			if err != nil {
				return err
			}
			res, err := rec.Step(ctx, act)
			if err != nil {
				return err
			}
			obs = res.Observation
			if res.Done() {
				break
			}
		}
	}
	return nil
}

// flaky is a third-party-style env whose steps go wrong on purpose: an
// action the env rejects (INVALID_ACTION) and an infrastructure failure
// (CRASHED, truncating), as a crashed plugin reports them.
type flaky struct{ n int }

func (f *flaky) Spec() gym.Spec { return gym.Spec{ID: "test/flaky-v0", Version: "0.1.0", MaxSteps: 10} }
func (f *flaky) Close() error   { return nil }
func (f *flaky) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	f.n = 0
	return gym.Observation{Text: "start", ValidActions: []string{"go", "bad", "crash"}}, nil
}
func (f *flaky) Step(_ context.Context, a string) (gym.StepResult, error) {
	f.n++
	obs := gym.Observation{Text: fmt.Sprintf("after %d", f.n)}
	switch a {
	case "bad":
		return gym.StepResult{Observation: obs, Status: gym.StatusInvalidAction}, nil
	case "crash":
		return gym.StepResult{Observation: obs, Status: gym.StatusCrashed, Truncated: true}, nil
	}
	return gym.StepResult{Observation: obs, Reward: 0.5}, nil
}

func record(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fx = fixture{dir: dir, deviateAt: 2}
	maze, err := text.New(text.MazeID, nil)
	if err != nil {
		return err
	}
	defer maze.Close()
	fx.oracle = filepath.Join(dir, "oracle.jsonl")
	if err := play(ctx, fx.oracle, maze, false, "oracle", "easy", 6, oracle); err != nil {
		return fmt.Errorf("oracle run: %w", err)
	}
	// The deviant follows the oracle except at step deviateAt, where it
	// takes another valid action: its episodes part from the oracle's there.
	fx.deviant = filepath.Join(dir, "deviant.jsonl")
	if err := play(ctx, fx.deviant, maze, false, "deviant", "easy", 6, func(ctx context.Context, env gym.Env, obs gym.Observation, n int) (string, error) {
		best, err := oracle(ctx, env, obs, n)
		if err != nil || n != fx.deviateAt {
			return best, err
		}
		for _, a := range obs.ValidActions {
			if a != best {
				return a, nil
			}
		}
		return "", fmt.Errorf("step %d offers no alternative to %q", n, best)
	}); err != nil {
		return fmt.Errorf("deviant run: %w", err)
	}
	fx.faulty = filepath.Join(dir, "faulty.jsonl")
	script := []string{"go", "bad", "go", "crash"}
	if err := play(ctx, fx.faulty, &flaky{}, false, "script", "", 2, func(_ context.Context, _ gym.Env, _ gym.Observation, n int) (string, error) {
		return script[n], nil
	}); err != nil {
		return fmt.Errorf("faulty run: %w", err)
	}

	reg := gym.NewRegistry()
	if err := web.Register(reg); err != nil {
		return fmt.Errorf("web envs (Chromium must be installed by scripts/setup.sh): %w", err)
	}
	shop, err := reg.Make(ctx, "web/shop-v0", nil)
	if err != nil {
		return err
	}
	defer shop.Close()
	fx.shop = filepath.Join(dir, "shop", "shop.jsonl")
	os.MkdirAll(filepath.Dir(fx.shop), 0o755)
	if err := play(ctx, fx.shop, shop, true, "oracle", "", 2, oracle); err != nil {
		return fmt.Errorf("shop run: %w", err)
	}
	if fx.shopSteps, err = trajectory.ReadSteps(fx.shop); err != nil {
		return err
	}

	// Damaged copies: the oracle run with half its last line cut off (and
	// its last manifest gone, as when a run is killed mid-write); a
	// manifest whose steps are missing; a run mixing env versions.
	fx.truncated = filepath.Join(dir, "truncated.jsonl")
	b, _ := os.ReadFile(fx.oracle)
	lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
	last := lines[len(lines)-1]
	os.WriteFile(fx.truncated, append(bytes.Join(lines[:len(lines)-1], nil), last[:len(last)/2]...), 0o644)
	mb, _ := os.ReadFile(trajectory.ManifestPath(fx.oracle))
	mlines := bytes.SplitAfter(bytes.TrimRight(mb, "\n"), []byte("\n"))
	os.WriteFile(trajectory.ManifestPath(fx.truncated), bytes.Join(mlines[:len(mlines)-1], nil), 0o644)

	fx.noSteps = filepath.Join(dir, "nosteps.jsonl")
	os.WriteFile(fx.noSteps, nil, 0o644)
	os.WriteFile(trajectory.ManifestPath(fx.noSteps), mlines[0], 0o644)

	fx.mixed = filepath.Join(dir, "mixed.jsonl")
	os.WriteFile(fx.mixed, b, 0o644)
	os.WriteFile(trajectory.ManifestPath(fx.mixed), bytes.Replace(mb, []byte(`"env_version":"`), []byte(`"env_version":"9.`), 1), 0o644)

	// A screenshot of the shop run goes missing.
	gone := fx.shopSteps[1].Screenshot
	if gone == "" {
		return fmt.Errorf("the shop run recorded no screenshots")
	}
	os.Remove(filepath.Join(filepath.Dir(fx.shop), gone))

	fx.train, _ = filepath.Abs("testdata/train-maze-spa")
	return nil
}

func newTestServer(t *testing.T, paths ...string) (*Server, string) {
	t.Helper()
	s, err := New(paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Runs() {
		r.Wait()
	}
	ts := httptest.NewServer(LocalOnly(s.Handler()))
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func TestIndexMatchesTheFiles(t *testing.T) {
	s, _ := newTestServer(t, fx.oracle, fx.deviant, fx.truncated, fx.noSteps, fx.mixed)
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(fx.oracle))
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := trajectory.ReadSteps(fx.oracle)
	oracle := s.Runs()[0]
	sum := oracle.Summary()
	if sum.Episodes != len(ms) || sum.Steps != len(steps) || sum.Successes != len(ms) {
		t.Fatalf("oracle summary %+v, want %d episodes, %d steps, all successful", sum, len(ms), len(steps))
	}
	for _, m := range ms {
		d, err := oracle.Episode(m.EpisodeID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Steps) != m.Steps || d.Steps[len(d.Steps)-1].NextObs == "" {
			t.Fatalf("episode %s: %d steps read, manifest says %d", m.EpisodeID, len(d.Steps), m.Steps)
		}
	}
	notices := func(r *Run) string {
		var out []string
		for _, n := range r.Summary().Notices {
			out = append(out, n.Text)
		}
		return strings.Join(out, "\n")
	}
	for i, want := range map[int][]string{
		2: {"not valid JSON", "line " + fmt.Sprint(len(steps)), "have steps but no manifest"},
		3: {"manifest but no steps"},
		4: {"mixes versions of text/maze-v0"},
	} {
		got := notices(s.Runs()[i])
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("run %s: notices %q lack %q", s.Runs()[i].Name, got, w)
			}
		}
	}
	if got := notices(s.Runs()[2]); strings.Contains(got, "mixes versions") {
		t.Errorf("a row computed from steps (no version known) made the run look mixed: %q", got)
	}
	// The truncated run still shows the episode whose manifest was lost,
	// computed from its remaining steps.
	if got := s.Runs()[2].Summary().Episodes; got != len(ms) {
		t.Errorf("truncated run: %d episodes, want %d", got, len(ms))
	}
}

func TestFirstDifference(t *testing.T) {
	a, _ := trajectory.ReadSteps(fx.oracle)
	b, _ := trajectory.ReadSteps(fx.deviant)
	ea, eb := a[:0], b[:0]
	for _, s := range a {
		if s.EpisodeID == a[0].EpisodeID {
			ea = append(ea, s)
		}
	}
	for _, s := range b {
		if s.EpisodeID == b[0].EpisodeID {
			eb = append(eb, s)
		}
	}
	if d := FirstDifference(ea, eb); d.Step != fx.deviateAt || d.Field != "action" {
		t.Fatalf("first difference %+v, want step %d on the action", d, fx.deviateAt)
	}
	if d := FirstDifference(ea, ea); d.Step != -1 {
		t.Fatalf("an episode against itself differs: %+v", d)
	}
	if d := FirstDifference(ea, ea[:2]); d.Step != 2 || d.Field != "length" {
		t.Fatalf("a shorter episode: %+v", d)
	}
}

func TestAPIErrorsAreClear(t *testing.T) {
	_, url := newTestServer(t, fx.shop)
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/api/runs/r9/episodes", 404, "no run"},
		{"/api/runs/r0/episodes/nope", 404, "no such episode"},
		{"/api/runs/r0/files/..%2F..%2F..%2Fetc%2Fpasswd.png", 404, "missing"},
		{"/api/runs/r0/files/shop.jsonl", 400, "only recorded screenshots"},
		{"/api/compare?a=r0&b=r5", 404, "no run"},
		{"/api/nothing", 404, "no such API path"},
	} {
		res, err := http.Get(url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != c.code || !strings.Contains(body["error"], c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.path, res.StatusCode, body["error"], c.code, c.want)
		}
	}
	req, _ := http.NewRequest("GET", url+"/api/runs", nil)
	req.Host = "evil.example:80"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a request for Host evil.example got %d, want 403 (DNS rebinding)", res.StatusCode)
	}
}

// page drives the viewer in a real headless Chromium.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	docs string // where to save a PNG of each view (GYM_VIEW_DOCS), or ""
}

func newPage(t *testing.T, base string) *page {
	t.Helper()
	exe, err := browser.FindChromium()
	if err != nil {
		t.Fatalf("Chromium (installed by scripts/setup.sh): %v", err)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(browser.HeadlessFlags(exe), chromedp.WindowSize(1280, 900))...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return &page{t: t, ctx: ctx, base: base, docs: os.Getenv("GYM_VIEW_DOCS")}
}

// open navigates to a route and waits until the page has drawn it.
func (p *page) open(hash string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(p.base+"/"+hash), p.ready(hash)); err != nil {
		p.t.Fatalf("open %s: %v", hash, err)
	}
}

func (p *page) ready(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.ready === %q`, hash), chromedp.WithPollingTimeout(30*time.Second))
}

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

func (p *page) count(sel string) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

func (p *page) snap(name string) {
	if p.docs == "" {
		return
	}
	b, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.docs, name), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func TestViewerInChromium(t *testing.T) {
	s, url := newTestServer(t, fx.oracle, fx.deviant, fx.shop, fx.faulty, fx.truncated, fx.noSteps, fx.mixed, fx.train)
	p := newPage(t, url)
	oracleMs, _ := trajectory.ReadManifests(trajectory.ManifestPath(fx.oracle))

	t.Run("runs", func(t *testing.T) {
		p.open("#/")
		if got := p.count(".card.run"); got != len(s.Runs()) {
			t.Fatalf("%d run cards, want %d", got, len(s.Runs()))
		}
		if got := p.text(`.card.run[data-run="r0"] .episodes`); got != fmt.Sprint(len(oracleMs)) {
			t.Errorf("oracle run card says %s episodes, want %d", got, len(oracleMs))
		}
		notices := p.text(".notices")
		for _, want := range []string{"truncated.jsonl: 1 step line(s) are not valid JSON", "manifest but no steps", "mixed.jsonl: this run mixes versions"} {
			if !strings.Contains(notices, want) {
				t.Errorf("the runs page does not say %q; notices: %s", want, notices)
			}
		}
		p.snap("view-runs.png")
	})

	t.Run("episodes table", func(t *testing.T) {
		p.open("#/run/r3")
		if got := p.count("table.episodes tbody tr"); got != 2 {
			t.Fatalf("faulty run lists %d episodes, want 2", got)
		}
		if got := p.text("table.episodes tbody"); !strings.Contains(got, "CRASHED 1") || !strings.Contains(got, "INVALID_ACTION 1") {
			t.Errorf("status counts missing from the table: %q", got)
		}
		p.open("#/run/r1?success=no")
		var want int
		ms, _ := trajectory.ReadManifests(trajectory.ManifestPath(fx.deviant))
		for _, m := range ms {
			if !m.Success {
				want++
			}
		}
		if got := p.count("table.episodes tbody tr"); got != want {
			t.Errorf("deviant run filtered to failures: %d rows, want %d", got, want)
		}
		p.open("#/run/r0?sort=steps&desc=1")
		if got := p.count("th.sorted.desc[data-col=steps]"); got != 1 {
			t.Errorf("the steps column is not marked as sorted descending")
		}
		p.snap("view-episodes.png")
	})

	t.Run("episode timeline", func(t *testing.T) {
		p.open("#/run/r0")
		first := oracleMs[0]
		if err := chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(`tr[data-episode="`+first.EpisodeID+`"]`)),
			p.ready("#/run/r0/ep/"+first.EpisodeID)); err != nil {
			t.Fatal(err)
		}
		if got := p.count(".steplink"); got != first.Steps+1 {
			t.Fatalf("%d entries in the timeline, want %d steps + the end", got, first.Steps)
		}
		if err := chromedp.Do(p.ctx, chromedp.KeyEvent(kb.ArrowRight)); err != nil {
			t.Fatal(err)
		}
		if got := p.text(".steplink.current .n"); got != "1" {
			t.Errorf("after → the current step is %q, want 1", got)
		}
		p.open("#/run/r3/ep/" + mustManifests(t, fx.faulty)[0].EpisodeID)
		if p.count(".steplink.infra") != 1 || p.count(".steplink.invalid") != 1 {
			t.Errorf("the CRASHED and INVALID_ACTION steps do not stand out (infra %d, invalid %d)", p.count(".steplink.infra"), p.count(".steplink.invalid"))
		}
	})

	t.Run("screenshot and target", func(t *testing.T) {
		// The first shop step whose action names an element.
		step := -1
		for i, st := range fx.shopSteps {
			if st.EpisodeID == fx.shopSteps[0].EpisodeID && st.Screenshot != "" && i != 1 && strings.HasPrefix(st.Action, "click(") {
				step = i
				break
			}
		}
		if step < 0 {
			t.Fatal("the shop oracle clicked nothing")
		}
		st := fx.shopSteps[step]
		p.open(fmt.Sprintf("#/run/r2/ep/%s/%d", st.EpisodeID, st.Step))
		id := strings.Trim(strings.TrimSuffix(strings.TrimPrefix(st.Action, "click("), ")"), `"`)
		if hl := p.text(".hl"); !strings.Contains(hl, "["+id+"]") {
			t.Errorf("action %s: highlighted line %q does not carry [%s]", st.Action, hl, id)
		}
		f, err := os.Open(filepath.Join(filepath.Dir(fx.shop), st.Screenshot))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		size, err := chromedp.Run(p.ctx, chromedp.Poll[[]int](`(() => { const i = document.querySelector(".shot img"); return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null })()`, chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil {
			t.Fatalf("the screenshot did not render: %v", err)
		}
		if size[0] != cfg.Width || size[1] != cfg.Height {
			t.Errorf("screenshot rendered at %v, the PNG is %dx%d", size, cfg.Width, cfg.Height)
		}
		p.snap("view-episode.png")
		p.open(fmt.Sprintf("#/run/r2/ep/%s/1", fx.shopSteps[1].EpisodeID))
		if got := p.text(".notices"); !strings.Contains(got, "missing") {
			t.Errorf("a missing screenshot is not reported: %q", got)
		}
	})

	t.Run("compare", func(t *testing.T) {
		p.open("#/compare/r0/r1")
		if got := p.count("table.compare tbody tr"); got != len(oracleMs) {
			t.Fatalf("%d seeds compared, want %d", got, len(oracleMs))
		}
		dev := mustManifests(t, fx.deviant)
		p.open(fmt.Sprintf("#/compare/r0/r1/%s/%s", oracleMs[0].EpisodeID, dev[0].EpisodeID))
		marked := eval[[]string](p, `[...document.querySelectorAll(".first-diff")].map(e => e.dataset.step)`)
		if len(marked) != 1 || marked[0] != fmt.Sprint(fx.deviateAt) {
			t.Errorf("first difference marked at %v, want step %d; the page says: %.300s", marked, fx.deviateAt, p.text("main"))
		}
		p.snap("view-compare.png")
	})

	t.Run("training curves", func(t *testing.T) {
		p.open("#/train/t0")
		b, _ := os.ReadFile(filepath.Join(fx.train, "metrics.jsonl"))
		iters := bytes.Count(b, []byte("\n"))
		pts := eval[int](p, `+(document.querySelector('svg[data-metric="success"]') || {dataset: {points: -1}}).dataset.points`)
		if pts != iters {
			t.Errorf("the success curve has %d points, metrics.jsonl %d iterations", pts, iters)
		}
		for _, m := range []string{"return", "entropy", "approx_kl", "progress_held_mse"} {
			if p.count(`svg[data-metric="`+m+`"] path.line`) != 1 {
				t.Errorf("no %s curve", m)
			}
		}
		if got := p.count(`a[href^="#/run/"]`); got < 1 {
			t.Errorf("the training page links no evaluation run")
		}
		p.snap("view-train.png")
	})
}

func mustManifests(t *testing.T, steps string) []trajectory.Manifest {
	t.Helper()
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(steps))
	if err != nil || len(ms) == 0 {
		t.Fatalf("%s: %d manifests, %v", steps, len(ms), err)
	}
	return ms
}
