// Package web is the web environment family: a real headless Chromium
// driven through chromedp, observed as an accessibility-tree-like text with
// stable element ids, and acted on with parsed action strings.
//
// Ids: web/<task>-v0 for each MiniWoB-style task of sites.Tasks,
// web/shop-v0 for the WebShop-like shop and web/open-v0 for user tasks on
// their own sites (a JSON task file). One Chromium serves every instance
// made through one Suite; each instance owns a tab in its own browser
// context, and Reset navigates instead of relaunching.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/envs/web/sites"
	"github.com/envgym/envgym/gym"
)

// Version of the web envs, recorded in trajectories.
const Version = "0.1.0"

// Options configure a Suite. The zero value is what the plugin uses.
type Options struct {
	ExecPath    string        // Chromium binary; default: found by browser.FindChromium
	Quiet       time.Duration // DOM quiet period of the settle wait; default browser.DefaultQuiet
	MaxSettle   time.Duration // bound of the settle wait; default 3s
	MaxObsNodes int           // observation lines; default 400
	// SpareContexts is how many fresh browser contexts the suite keeps
	// made ahead for resets; default 2, negative for none.
	SpareContexts int
	Logf          func(format string, args ...any)
}

// Suite is the shared state behind the web env ids: one lazily started
// Chromium, the loopback task server and the shop catalogue.
type Suite struct {
	opts Options

	mu      sync.Mutex
	mgr     *browser.Manager
	srv     *sites.Server
	shop    *shop.Shop
	version string
	// miniwobSites are the MiniWoB++ html folders mounted on srv.
	miniwobSites map[string]*miniwobSite
	spares       *sparePool
}

// New returns a suite; nothing starts until the first env is made.
func New(opts Options) *Suite {
	if opts.Quiet == 0 {
		opts.Quiet = browser.DefaultQuiet
	}
	if opts.MaxSettle == 0 {
		opts.MaxSettle = 3 * time.Second
	}
	if opts.MaxObsNodes == 0 {
		opts.MaxObsNodes = 400
	}
	if opts.SpareContexts == 0 {
		opts.SpareContexts = 2
	}
	s := &Suite{opts: opts, mgr: browser.NewManager(browser.Options{ExecPath: opts.ExecPath, Logf: opts.Logf})}
	s.spares = &sparePool{make: s.newSession, size: max(opts.SpareContexts, 0), loadingURL: map[string]int{}}
	return s
}

// Register registers every web env id in r with a new Suite that lives as
// long as the process.
func Register(r *gym.Registry) error {
	return New(Options{}).Register(r)
}

// Register registers the web env ids, backed by s.
func (s *Suite) Register(r *gym.Registry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ver, err := browser.ProbeVersion(ctx, s.opts.ExecPath)
	if err != nil {
		return fmt.Errorf("web: register: %w", err)
	}
	s.version = ver
	// Whether Chromium's own sandbox guards the host from the pages (off
	// as root, e.g. in-process tests; on in the installed plugin where
	// the kernel allows it).
	components := map[string]string{"chromium": ver, "chromedp": "v0.23.0", "chromium_sandbox": browser.DetectSandbox().String()}
	obsSpace := "Text: Goal, URL, Title, optional 'Last action error', then one line per element: `[id] role \"name\" value=\"…\" checked …` (interactive elements carry an id) and `text \"…\"`/`heading`/`row` lines. ValidActions lists concrete actions; Screenshot (PNG) when reset with options {\"screenshot\": true}."
	for _, t := range sites.Tasks() {
		spec := gym.Spec{
			ID: "web/" + t.Name + "-v0", Version: Version,
			Description: "MiniWoB-style task: " + t.Desc + ". Reward 1 on success, info.success.",
			Tasks:       []gym.Task{{ID: t.Name, Description: t.Desc}},
			MaxSteps:    t.MaxSteps, ObservationSpace: obsSpace, ActionSpace: action.Grammar,
			Deterministic: true, Components: components,
		}
		if err := r.Register(spec, s.factory(spec, s.taskEpisodes(t))); err != nil {
			return fmt.Errorf("web: register: %w", err)
		}
	}
	shopSpec := gym.Spec{
		ID: "web/shop-v0", Version: Version,
		Description: "WebShop-like shop: search, browse result pages, open a product, choose options, buy. Reward on buy = fraction of the instruction's attributes, options and price limit met.",
		Tasks:       []gym.Task{{ID: "shop", Description: "buy the product that matches the instruction"}},
		MaxSteps:    30, ObservationSpace: obsSpace, ActionSpace: action.Grammar,
		Deterministic: true, Components: components,
	}
	if err := r.Register(shopSpec, s.factory(shopSpec, s.shopEpisodes)); err != nil {
		return fmt.Errorf("web: register: %w", err)
	}
	if err := shop.RegisterText(r); err != nil { // the same shop without a browser, for fast training
		return fmt.Errorf("web: register: %w", err)
	}
	openSpec := gym.Spec{
		ID: "web/open-v0", Version: Version,
		Description: "User tasks on their own sites from a JSON task file (make or reset option \"task_file\", or \"task\" inline): start_url, allowed_hosts, goal, a JavaScript validator. goto to other hosts is an invalid action.",
		MaxSteps:    50, ObservationSpace: obsSpace, ActionSpace: action.Grammar,
		Deterministic: false, Components: components,
		// The user's site decides what a seed changes (setup_js gets it);
		// the built-in example has one episode.
		SeedFree: true,
	}
	if err := r.Register(openSpec, s.openFactory(openSpec)); err != nil {
		return fmt.Errorf("web: register: %w", err)
	}
	fixture, err := sites.MiniWoBTasks(sites.MiniWoBFixture())
	if err != nil {
		return fmt.Errorf("web: register: %w", err)
	}
	miniwobSpec := gym.Spec{
		ID: "web/miniwob-v0", Version: Version,
		Description: "MiniWoB++ tasks from your copy of MiniWoB++'s html folder (make option \"miniwob_dir\", as BrowserGym's MINIWOB_URL); the task id picks a task, else the seed does. Each reset seeds Math.random, removes the human display, sets a long episode timer and starts the episode; the goal is core.getUtterance(), the reward WOB_RAW_REWARD_GLOBAL when WOB_DONE_GLOBAL. Without miniwob_dir: envgym's own look-alike tasks (listed here).",
		MaxSteps:    30, ObservationSpace: obsSpace, ActionSpace: action.Grammar,
		Deterministic: false, Components: components,
	}
	for _, t := range fixture {
		miniwobSpec.Tasks = append(miniwobSpec.Tasks, gym.Task{ID: t, Description: "envgym look-alike task " + t})
	}
	if err := r.Register(miniwobSpec, s.miniwobFactory(miniwobSpec)); err != nil {
		return fmt.Errorf("web: register: %w", err)
	}
	return nil
}

// Close stops Chromium and the task server.
func (s *Suite) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	s.spares.close()
	err := s.mgr.Close()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = errors.Join(err, srv.Close(ctx))
	}
	return err
}

// Browser is the suite's browser manager (for stats and fault injection).
func (s *Suite) Browser() *browser.Manager { return s.mgr }

// server starts the loopback server and the shop on first use.
func (s *Suite) server() (*sites.Server, *shop.Shop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return s.srv, s.shop, nil
	}
	srv, err := sites.Start()
	if err != nil {
		return nil, nil, err
	}
	s.shop = shop.New(shop.DefaultCatalogSeed, shop.DefaultProducts)
	srv.Handle("/shop/", s.shop.Handler())
	srv.Handle("GET /open/example", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, exampleOpenPage)
	}))
	s.srv = srv
	return srv, s.shop, nil
}

func (s *Suite) origins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	return []string{s.srv.Origin()}
}

// displayURL shows local-site URLs as paths, so observations do not depend
// on the server's port.
func (s *Suite) displayURL(u string) string {
	for _, o := range s.origins() {
		if rest, ok := strings.CutPrefix(u, o); ok {
			return rest
		}
	}
	return u
}

type episodeFunc func(ctx context.Context, opts gym.ResetOptions) (episode, error)

// factory makes the built-in envs. Their one make option, preload_start
// (bool, default true), has the suite load a task's start page ahead for
// its next reset (see preloader), so the reset costs no navigation; false
// navigates at every reset instead (one page load inside the reset rather
// than during the episode's steps).
func (s *Suite) factory(spec gym.Spec, newEp episodeFunc) gym.Factory {
	return func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		preload := true
		if v, ok := opts["preload_start"]; ok {
			b, isBool := v.(bool)
			if !isBool {
				return nil, fmt.Errorf("web: option preload_start: want true or false, got %v (%T)", v, v)
			}
			preload = b
		}
		if _, _, err := s.server(); err != nil {
			return nil, err
		}
		e := s.newEnv(spec, newEp)
		e.preload = preload
		return e, nil
	}
}

// taskEpisode is one seeded instance of a MiniWoB-style task.
type taskEpisode struct {
	task   *sites.Task
	seed   int64
	in     sites.Instance
	url    string
	shell  string // the task's page before an instance is drawn (preloader)
	origin string
}

func (s *Suite) taskEpisodes(t *sites.Task) episodeFunc {
	return func(ctx context.Context, opts gym.ResetOptions) (episode, error) {
		if opts.TaskID != "" && opts.TaskID != t.Name {
			return nil, fmt.Errorf("%w %q: web/%s-v0 has the one task %q", gym.ErrUnknownTask, opts.TaskID, t.Name, t.Name)
		}
		srv, _, err := s.server()
		if err != nil {
			return nil, err
		}
		return &taskEpisode{task: t, seed: opts.Seed, in: t.Instance(opts.Seed), url: srv.TaskURL(t.Name, opts.Seed),
			shell: srv.ShellURL(t.Name), origin: srv.Origin()}, nil
	}
}

func (t *taskEpisode) startURL() string   { return t.url }
func (t *taskEpisode) preloadURL() string { return t.shell }

func (t *taskEpisode) begin(ctx context.Context, tab *browser.Tab) error {
	js, err := sites.BeginJS(t.task, t.seed)
	if err != nil {
		return err
	}
	ok, err := browser.Eval[bool](ctx, tab, js)
	if err == nil && !ok {
		err = fmt.Errorf("the page did not start the instance")
	}
	return err
}
func (t *taskEpisode) goal() string  { return t.in.Goal }
func (t *taskEpisode) answers() bool { return t.in.AnswerTask }
func (t *taskEpisode) oracle(p *browser.Page) string {
	return t.in.Oracle(p)
}
func (t *taskEpisode) info() map[string]any {
	return map[string]any{"task": t.task.Name, "seed": t.seed}
}

func (t *taskEpisode) hosts() browser.Hosts { return originHosts(t.origin) }

func (t *taskEpisode) allowed(u *url.URL) error {
	if u.Scheme+"://"+u.Host != t.origin {
		return fmt.Errorf("goto: %s is outside the task site; only its own pages are allowed", u.Host)
	}
	return nil
}

func (t *taskEpisode) judge(_ context.Context, _ *browser.Tab, p *browser.Page, answer *string) (verdict, error) {
	st := sites.State(p.State)
	var done, ok bool
	switch {
	case t.in.AnswerTask && answer != nil:
		done, ok = true, t.in.Check(st, *answer)
	case !t.in.AnswerTask && st.Done():
		done, ok = true, t.in.Check(st, "")
	case answer != nil:
		done = true
	}
	if !done {
		return verdict{}, nil
	}
	v := verdict{done: true, info: map[string]any{"success": ok}}
	if ok {
		v.reward = 1
	}
	return v, nil
}
