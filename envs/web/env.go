package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

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
	// allowed checks a goto target.
	allowed(u *url.URL) error
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

// env is one web env instance: one tab in its own browser context.
type env struct {
	suite   *Suite
	spec    gym.Spec
	newEp   func(ctx context.Context, opts gym.ResetOptions) (episode, error)
	maxObs  int
	tab     *browser.Tab
	ep      episode
	page    browser.Page
	ids     map[int]browser.Node
	lastErr string
	shots   bool
	navs    int // navigations this episode, for go_back in the valid actions
	steps   int // this episode's steps; the episode is truncated at spec.MaxSteps
	started bool
	done    bool
	closed  bool
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
	if e.tab != nil {
		return e.tab.Close()
	}
	return nil
}

// Reset starts an episode by navigation in the env's tab; the tab (and
// Chromium) are only re-created when the browser died.
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
	if e.tab == nil || !e.tab.Alive() {
		if e.tab != nil {
			e.tab.Close()
			e.tab = nil
		}
		tab, err := e.suite.newTab(ctx)
		if err != nil {
			return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
		}
		e.tab = tab
	} else if err := e.tab.ResetSession(ctx, e.suite.origins()...); err != nil {
		return gym.Observation{}, fmt.Errorf("web: reset: %w", err)
	}
	e.ep, e.lastErr, e.navs, e.steps, e.done, e.started = ep, "", 0, 0, false, true
	// Open also forgets the history behind the first page, so go_back
	// cannot leave the episode.
	p, err := e.tab.Open(ctx, ep.startURL(), e.maxObs)
	if err != nil {
		return gym.Observation{}, fmt.Errorf("web: reset: open %s: %w", ep.startURL(), err)
	}
	e.setPage(p)
	return e.observation(ctx, nil)
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
	switch {
	case e.closed:
		return gym.StepResult{}, gym.ErrClosed
	case !e.started:
		return gym.StepResult{}, gym.ErrNotReset
	case e.done:
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	// Every step counts toward the limit, invalid ones too: an agent
	// repeating an action the page refuses must still reach the end.
	e.steps++
	r, err := e.step(ctx, act)
	if err == nil && !r.Done() && e.spec.MaxSteps > 0 && e.steps >= e.spec.MaxSteps {
		r.Truncated, e.done = true, true
	}
	return r, err
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
	case err != nil:
		return e.failed(ctx, err)
	}
	if a.Kind == action.Answer {
		answer = &a.Text
	}
	observe := e.settleObserve
	if a.Kind == action.Answer {
		observe = e.observe // the page was not touched
	}
	if err := observe(ctx); err != nil {
		return e.failed(ctx, err)
	}
	v, err := e.ep.judge(ctx, e.tab, &e.page, answer)
	if err != nil {
		return e.failed(ctx, err)
	}
	if answer != nil {
		v.done = true
	}
	e.lastErr = ""
	e.done = v.done
	obs, err := e.observation(ctx, v.info)
	if err != nil {
		return e.failed(ctx, err)
	}
	return gym.StepResult{Observation: obs, Reward: v.reward, Terminated: v.done, Status: gym.StatusOK}, nil
}

// precheck rejects actions that cannot apply, before touching the page.
func (e *env) precheck(a action.Action) string {
	switch a.Kind {
	case action.Click, action.Fill, action.Select, action.Check, action.Hover:
		n, ok := e.ids[a.ID]
		if !ok {
			return fmt.Sprintf("there is no element [%d] in the current observation; use an id shown in [brackets]", a.ID)
		}
		switch {
		case a.Kind == action.Fill && n.Role != "textbox":
			return fmt.Sprintf("[%d] is a %s, not a textbox; fill works on textboxes", a.ID, n.Role)
		case a.Kind == action.Select && n.Role != "combobox":
			return fmt.Sprintf("[%d] is a %s, not a drop-down; select works on comboboxes", a.ID, n.Role)
		case a.Kind == action.Check && n.Role != "checkbox" && n.Role != "radio" && n.Role != "switch":
			return fmt.Sprintf("[%d] is a %s, not a checkbox or radio; use click(%d)", a.ID, n.Role, a.ID)
		case n.Disabled:
			return fmt.Sprintf("[%d] is disabled", a.ID)
		}
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
	t := e.tab
	switch a.Kind {
	case action.Click:
		return t.Click(ctx, a.ID)
	case action.Fill:
		return t.Fill(ctx, a.ID, a.Text)
	case action.Select:
		return t.Select(ctx, a.ID, a.Text)
	case action.Check:
		return t.Check(ctx, a.ID)
	case action.Hover:
		return t.Hover(ctx, a.ID)
	case action.Press:
		return t.Press(ctx, a.Text)
	case action.Scroll:
		return t.Scroll(ctx, a.Dir)
	case action.Goto:
		u, _ := e.resolve(a.Text)
		e.navs++
		err := t.Navigate(ctx, u.String())
		if err != nil && !errors.Is(err, browser.ErrCrashed) && ctx.Err() == nil && strings.Contains(err.Error(), "net::") {
			return &browser.ActionError{Msg: "goto: " + err.Error()}
		}
		return err
	case action.GoBack:
		moved, err := t.Back(ctx)
		if err == nil && !moved {
			return &browser.ActionError{Msg: "go_back: there is no earlier page in this episode"}
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
	e.done = true
	status := gym.StatusEnvError
	switch {
	case errors.Is(err, browser.ErrCrashed):
		status = gym.StatusCrashed
		e.tab.Close()
		e.tab = nil
	case errors.Is(err, context.DeadlineExceeded):
		status = gym.StatusTimeout
	}
	text := fmt.Sprintf("The browser failed (%s): %v\nReset to start a new episode.", status, err)
	return gym.StepResult{
		Observation: gym.Observation{Text: text, Info: map[string]any{"error": err.Error()}},
		Truncated:   true,
		Status:      status,
	}, nil
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
