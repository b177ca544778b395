package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
)

// episode is what differs between the task envs, the shop and open-web
// mode: where an episode starts, how it is judged, and how it is solved.
type episode interface {
	startURL() string
	goal() string
	// judge scores the state after a step; answer is non-nil after an
	// answer(...) action.
	judge(ctx context.Context, tab *browser.Tab, p *browser.Page, answer *string) (verdict, error)
	// oracle proposes the next action of a scripted solver.
	oracle(p *browser.Page) string
	// allowed checks a goto or new_tab target.
	allowed(u *url.URL) error
	// hosts is the network policy of the episode: every request of its
	// pages (frames, workers and popups included) must go to one of them.
	hosts() browser.Hosts
	// answers reports whether the task expects answer(...).
	answers() bool
	info() map[string]any
}

// verdict is the judge's outcome of one step.
type verdict struct {
	reward float64
	done   bool
	info   map[string]any
}

// env is one web env instance: each episode in a fresh browser context
// (a browser.Session), the next one prepared while the current one runs.
// The call order and the step limit are the registry's (gym.Enforce).
type env struct {
	suite   *Suite
	spec    gym.Spec
	newEp   func(ctx context.Context, opts gym.ResetOptions) (episode, error)
	maxObs  int
	sess    *browser.Session
	tab     *browser.Tab // the session's active tab
	ep      episode
	page    browser.Page
	ids     map[int]browser.Node
	lastErr string
	blocked []string // requests the policy refused during the last step or reset
	// downloads began during the last step or reset.
	downloads []browser.Download
	shots     bool
	navs      int // navigations this episode, for go_back in the valid actions
	started   bool
	closed    bool
	// preload: the make option preload_start (see preloader).
	preload bool
	// noOracle: the instance's episodes come with no scripted solution
	// (MiniWoB++, task files without one), so it offers no Oracle.
	noOracle bool
}

// Supports reports the capabilities this instance offers: all it
// implements, but an oracle only where its episodes have one.
func (e *env) Supports(capability string) bool {
	return capability != "Oracle" || !e.noOracle
}

func (e *env) Spec() gym.Spec { return e.spec }

func (e *env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if old, ok := e.ep.(ender); ok {
		old.end()
	}
	var err error
	if e.sess != nil {
		err = e.sess.Close()
		e.sess, e.tab = nil, nil
	}
	e.suite.spares.release()
	return err
}

// Reset starts an episode in a fresh browser context: one the suite
// prepared ahead when ready, else a new one. The old context is disposed
// in the background.
func (e *env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if e.closed {
		return gym.Observation{}, gym.ErrClosed
	}
	ep, err := e.newEp(ctx, opts)
	if err != nil {
		return gym.Observation{}, err
	}
	if old, ok := e.ep.(ender); ok {
		old.end()
	}
	e.shots, _ = opts.Options["screenshot"].(bool)
	defer e.suite.spares.beginReset()()
	pre, _ := ep.(preloader)
	if !e.preload {
		pre = nil
	}
	var sess *browser.Session
	if pre != nil {
		sess = e.suite.spares.takeLoaded(pre.preloadURL())
	}
	loaded := sess != nil
	if !loaded {
		if sess, err = e.suite.session(ctx); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
	}
	if old := e.sess; old != nil {
		e.suite.spares.dispose(old)
	}
	e.sess, e.tab = sess, sess.Active()
	sess.SetHosts(ep.hosts())
	if g, ok := ep.(granter); ok {
		if origin, perms := g.grants(); len(perms) > 0 {
			if err := sess.Grant(ctx, origin, perms); err != nil {
				return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
			}
		}
	}
	e.ep, e.lastErr, e.navs, e.started = ep, "", 0, true
	if loaded {
		if err := pre.begin(ctx, e.tab); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: start %s: %w", ep.startURL(), err)
		}
		if err := e.refresh(ctx, true); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
	} else {
		// Open also forgets the history behind the first page, so go_back
		// cannot leave the episode.
		p, err := e.tab.Open(ctx, ep.startURL(), e.maxObs)
		if err != nil && !errors.Is(err, browser.ErrDialog) {
			return gym.Observation{}, fmt.Errorf("web: reset: open %s: %w", ep.startURL(), err)
		}
		e.setPage(p)
		if err := e.refresh(ctx, false); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
	}
	if s, ok := ep.(starter); ok {
		if err := s.start(ctx, e.tab, opts.Seed); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
		if err := e.refresh(ctx, true); err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
	}
	e.blocked, e.downloads = sess.TakeBlocked(), sess.TakeDownloads()
	if pre != nil {
		e.suite.spares.preload(pre.preloadURL(), ep.hosts())
	}
	return e.observation(ctx, nil)
}

// granter is implemented by episodes whose pages get permissions (a task
// file's permissions), granted in the episode's fresh context only.
type granter interface {
	grants() (origin string, permissions []string)
}

// starter is implemented by episodes that run code in the page once it
// loaded (a task file's setup_js, MiniWoB's episode start).
type starter interface {
	start(ctx context.Context, tab *browser.Tab, seed int64) error
}

// closeGrace is how long a failed call waits for the browser to report
// that the page closed itself.
const closeGrace = 250 * time.Millisecond

// refresh re-reads the page after a change: it waits for the active tab
// to settle (settle) and observes it, then adopts the tabs the page
// opened or closed and, when the active tab changed, observes the new
// one. While a dialog is open the page is frozen: the last snapshot
// stands and the dialog shows beside it.
func (e *env) refresh(ctx context.Context, settle bool) error {
	for range 4 { // each round follows one change of the active tab
		if e.tab.Dialog() != nil {
			return nil
		}
		var err error
		if settle {
			err = e.settleObserve(ctx)
		} else {
			err = e.observe(ctx)
		}
		if errors.Is(err, browser.ErrDialog) {
			return nil
		}
		if err != nil && !e.tab.GoneSoon(closeGrace) {
			return err
		}
		// A page that closed itself (window.close) leaves its tab.
		changed, err := e.sess.Sync(ctx)
		if err != nil && !errors.Is(err, browser.ErrDialog) {
			return err
		}
		if !changed {
			return nil
		}
		e.tab, settle = e.sess.Active(), true
	}
	return nil
}

func (e *env) observe(ctx context.Context) error {
	p, err := e.tab.Observe(ctx, e.maxObs)
	if err != nil {
		return err
	}
	e.setPage(p)
	return nil
}

// settleObserve waits for the page to settle and observes it, in one
// round trip.
func (e *env) settleObserve(ctx context.Context) error {
	p, err := e.tab.SettleObserve(ctx, e.maxObs)
	if err != nil {
		return err
	}
	e.setPage(p)
	return nil
}

func (e *env) setPage(p browser.Page) {
	e.page = p
	e.ids = make(map[int]browser.Node, len(p.Nodes))
	for _, n := range p.Nodes {
		if n.ID != 0 {
			e.ids[n.ID] = n
		}
	}
}

// Step parses and runs one action. The page is only touched once the
// action parsed and names an element of the last observation.
func (e *env) Step(ctx context.Context, act string) (gym.StepResult, error) {
	if !e.started || e.sess == nil {
		return gym.StepResult{}, gym.ErrNotReset
	}
	return e.step(ctx, act)
}

func (e *env) step(ctx context.Context, act string) (gym.StepResult, error) {
	a, err := action.Parse(act)
	if err != nil {
		return e.invalid(ctx, err.Error())
	}
	if why := e.precheck(a); why != "" {
		return e.invalid(ctx, why)
	}
	var answer *string
	err = e.apply(ctx, a)
	var ae *browser.ActionError
	switch {
	case errors.As(err, &ae):
		return e.invalid(ctx, ae.Msg)
	case err != nil && !errors.Is(err, browser.ErrDialog) && !e.tab.GoneSoon(closeGrace):
		// (A page that closed itself during the action is a change the
		// refresh below follows, not a failure.)
		return e.failed(ctx, err)
	}
	if a.Kind == action.Answer {
		answer = &a.Text
	}
	// After answer the page was not touched: observe without settling.
	if err := e.refresh(ctx, a.Kind != action.Answer); err != nil {
		return e.failed(ctx, err)
	}
	var v verdict
	if e.tab.Dialog() == nil || answer != nil {
		// Judging runs code in the page, which a dialog freezes.
		if v, err = e.ep.judge(ctx, e.tab, &e.page, answer); err != nil && !errors.Is(err, browser.ErrDialog) {
			return e.failed(ctx, err)
		}
	}
	if answer != nil {
		v.done = true
	}
	e.lastErr = ""
	e.blocked, e.downloads = e.sess.TakeBlocked(), e.sess.TakeDownloads()
	obs, err := e.observation(ctx, v.info)
	if err != nil {
		return e.failed(ctx, err)
	}
	return gym.StepResult{Observation: obs, Reward: v.reward, Terminated: v.done, Status: gym.StatusOK}, nil
}

// precheck rejects actions that cannot apply, before touching the page.
func (e *env) precheck(a action.Action) string {
	if d := e.tab.Dialog(); d != nil {
		switch a.Kind {
		case action.AcceptDialog, action.DismissDialog, action.Noop, action.Answer:
		default:
			return fmt.Sprintf("a %s dialog is open (%q) and the page waits for it: answer it with accept_dialog() or dismiss_dialog() first", d.Type, d.Message)
		}
	}
	switch a.Kind {
	case action.AcceptDialog, action.DismissDialog:
		if e.tab.Dialog() == nil {
			return "there is no dialog open; " + string(a.Kind) + " answers an alert, confirm, prompt or beforeunload dialog shown as a Dialog: line"
		}
	case action.TabFocus:
		if n := len(e.sess.Tabs()); a.ID < 0 || a.ID >= n {
			return fmt.Sprintf("there is no tab %d; the open tabs are numbered 0 to %d", a.ID, n-1)
		}
	case action.NewTab:
		u, err := e.resolve(a.Text)
		if err != nil {
			return strings.Replace(err.Error(), "goto", "new_tab", 1)
		}
		if err := e.ep.allowed(u); err != nil {
			return strings.Replace(err.Error(), "goto", "new_tab", 1)
		}
	case action.Click, action.Fill, action.Select, action.Check, action.Hover,
		action.DblClick, action.Clear, action.Focus, action.Uncheck, action.Upload, action.Drag, action.Press:
		return e.precheckElements(a) // actions.go
	case action.Goto:
		u, err := e.resolve(a.Text)
		if err != nil {
			return err.Error()
		}
		if err := e.ep.allowed(u); err != nil {
			return err.Error()
		}
	case action.Answer:
		if len(a.Text) > 2000 {
			return "the answer is too long (limit 2000 bytes)"
		}
	}
	return ""
}

func (e *env) resolve(raw string) (*url.URL, error) {
	base, err := url.Parse(e.page.URL)
	if err != nil {
		return nil, fmt.Errorf("current URL %q does not parse: %w", e.page.URL, err)
	}
	u, err := base.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("goto: %q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("goto: only http and https URLs are allowed, got %q", u.Scheme)
	}
	return u, nil
}

func (e *env) apply(ctx context.Context, a action.Action) error {
	if handled, err := e.applyInput(ctx, a); handled { // actions.go
		return err
	}
	t := e.tab
	switch a.Kind {
	case action.Goto:
		u, _ := e.resolve(a.Text)
		e.navs++
		err := t.Navigate(ctx, u.String())
		if err != nil && !errors.Is(err, browser.ErrCrashed) && ctx.Err() == nil && strings.Contains(err.Error(), "net::") {
			return &browser.ActionError{Msg: "goto: " + err.Error()}
		}
		return err
	case action.AcceptDialog, action.DismissDialog:
		var text *string
		if a.HasText {
			text = &a.Text
		}
		return t.HandleDialog(ctx, a.Kind == action.AcceptDialog, text)
	case action.TabFocus:
		err := e.sess.Focus(ctx, a.ID)
		e.tab = e.sess.Active() // a dialog open on it (ErrDialog) shows next
		return err
	case action.TabClose:
		err := e.sess.CloseActive(ctx)
		e.tab = e.sess.Active()
		return err
	case action.NewTab:
		u, _ := e.resolve(a.Text)
		err := e.sess.OpenTab(ctx, u.String())
		e.tab = e.sess.Active()
		if err != nil && !errors.Is(err, browser.ErrCrashed) && ctx.Err() == nil && strings.Contains(err.Error(), "net::") {
			return &browser.ActionError{Msg: "new_tab: " + err.Error()}
		}
		return err
	case action.GoBack:
		moved, err := t.Back(ctx)
		if err == nil && !moved {
			return &browser.ActionError{Msg: "go_back: there is no earlier page in this episode"}
		}
		return err
	case action.GoForward:
		moved, err := t.Forward(ctx)
		if err == nil && !moved {
			return &browser.ActionError{Msg: "go_forward: there is no later page; go_forward undoes a go_back"}
		}
		return err
	}
	return nil // noop, answer
}

// invalid answers an action that did not apply: the page is as it was.
func (e *env) invalid(ctx context.Context, why string) (gym.StepResult, error) {
	e.lastErr = why
	obs, err := e.observation(ctx, nil)
	if err != nil {
		return e.failed(ctx, err)
	}
	r := gym.Invalid(obs, why)
	return r, nil
}

// failed turns an infrastructure failure into a step status; only a
// cancelled caller context is an error.
func (e *env) failed(ctx context.Context, err error) (gym.StepResult, error) {
	if ctx.Err() != nil {
		return gym.StepResult{}, fmt.Errorf("web: step: %w", err)
	}
	status := gym.StatusEnvError
	switch {
	case errors.Is(err, browser.ErrCrashed):
		status = gym.StatusCrashed
		e.sess.Close()
		e.sess, e.tab = nil, nil
	case errors.Is(err, context.DeadlineExceeded):
		status = gym.StatusTimeout
	}
	r := gym.Failed(status, fmt.Errorf("the browser failed (%s): %w; reset to start a new episode", status, err))
	return r, nil
}

// ValidActions lists actions that apply to the current page.
func (e *env) ValidActions(ctx context.Context) ([]string, error) {
	if !e.started {
		return nil, gym.ErrNotReset
	}
	return e.validActions(), nil
}

// Screenshot captures the viewport as PNG.
func (e *env) Screenshot(ctx context.Context) ([]byte, error) {
	if e.tab == nil {
		return nil, gym.ErrNotReset
	}
	if e.tab.Dialog() != nil {
		return nil, fmt.Errorf("web: screenshot: %w (the page is frozen until it is answered)", browser.ErrDialog)
	}
	png, err := e.tab.Screenshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: screenshot: %w", err)
	}
	return png, nil
}

// OracleAction is the scripted solver's next action.
func (e *env) OracleAction(ctx context.Context) (string, error) {
	if !e.started {
		return "", gym.ErrNotReset
	}
	return e.ep.oracle(&e.page), nil
}

// Render shows the current observation text.
func (e *env) Render(ctx context.Context) (string, error) {
	if !e.started {
		return "", gym.ErrNotReset
	}
	return e.text(), nil
}

var (
	_ gym.Screenshotter = (*env)(nil)
	_ gym.ValidActioner = (*env)(nil)
	_ gym.Oracle        = (*env)(nil)
	_ gym.Renderer      = (*env)(nil)
)
