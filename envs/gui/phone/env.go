// Package phone is the phone backend of the GUI envs: a phone shell (status
// bar, home screen, app drawer, back/home navigation bar, on-screen
// keyboard) and six apps written as one embedded web app, served on
// loopback and rendered by headless Chromium at 412×915 CSS pixels with a
// device scale factor and touch emulation. Agents see a screenshot and,
// optionally, an Android-style accessibility list; they act with
// coordinates. Validators read the apps' own store from the page.
package phone

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/envs/gui/action"
	"github.com/envgym/envgym/envs/gui/turn"
	"github.com/envgym/envgym/gym"
)

// Width and Height are the phone's viewport in CSS pixels.
const (
	Width  = 412
	Height = 915
)

// MaxSteps is the step limit of every phone task.
const MaxSteps = 30

//go:embed app
var appFS embed.FS

// Options configure a Suite.
type Options struct {
	ExecPath string // Chromium binary; default: found by chromium.FindChromium
}

// Suite is the shared state behind the phone envs of one process: the
// loopback server of the phone web app and one Chromium.
type Suite struct {
	Browser *Browser

	mu  sync.Mutex
	url string
	ln  net.Listener
}

// NewSuite returns a suite; nothing starts until the first Reset.
func NewSuite(opts Options) *Suite {
	return &Suite{Browser: &Browser{execPath: opts.ExecPath}}
}

// serve starts the app server once and returns its URL.
func (s *Suite) serve() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.url != "" {
		return s.url, nil
	}
	sub, err := fs.Sub(appFS, "app")
	if err != nil {
		return "", fmt.Errorf("phone: app files: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("phone: listen: %w", err)
	}
	go http.Serve(ln, http.FileServerFS(sub)) //nolint:errcheck // ends when the process does
	s.ln, s.url = ln, "http://"+ln.Addr().String()+"/index.html"
	return s.url, nil
}

// TaskIDs lists the phone task ids in order.
func TaskIDs() []gym.Task {
	var out []gym.Task
	for _, t := range tasks() {
		out = append(out, gym.Task{ID: t.id, Description: t.desc})
	}
	return out
}

// Env is one phone: a tab of the suite's Chromium.
type Env struct {
	suite *Suite
	spec  gym.Spec
	tasks []task
	a11y  bool
	scale float64

	tab    *tab
	closed bool
	task   task
	ep     episode
	plan   int
	turn   turn.Episode
	reset  bool
}

// New makes a phone env. opts: "a11y" (bool, default true: the text
// observation lists UI elements; false for pure vision), "scale" (device
// scale factor, default 1: screenshots are 412×915 pixels times scale).
func (s *Suite) New(spec gym.Spec, opts map[string]any) (*Env, error) {
	e := &Env{suite: s, spec: spec, tasks: tasks(), a11y: true, scale: 1}
	if err := e.applyOptions(opts); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) applyOptions(opts map[string]any) error {
	for k, v := range opts {
		switch k {
		case "a11y":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("phone: option a11y: want a bool, got %T", v)
			}
			e.a11y = b
		case "scale":
			f, ok := v.(float64)
			if !ok || f < 0.5 || f > 4 {
				return fmt.Errorf("phone: option scale: want a number in [0.5, 4], got %v", v)
			}
			if e.tab != nil && f != e.scale {
				e.tab.Close()
				e.tab = nil
			}
			e.scale = f
		default:
			return fmt.Errorf("phone: unknown option %q (want a11y, scale)", k)
		}
	}
	return nil
}

// ScreenSize is the screenshot size in pixels, the space of action
// coordinates.
func (e *Env) ScreenSize() (w, h int) {
	return int(math.Round(Width * e.scale)), int(math.Round(Height * e.scale))
}

// Spec implements gym.Env.
func (e *Env) Spec() gym.Spec { return e.spec }

// Browser is the Chromium this env's tab lives in (tests kill it).
func (e *Env) Browser() *Browser { return e.suite.Browser }

// Reset implements gym.Env: it restores the apps' store to the seeded
// state in the same tab; a new tab (and browser) only after a crash.
func (e *Env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if e.closed {
		return gym.Observation{}, gym.ErrClosed
	}
	if err := e.applyOptions(opts.Options); err != nil {
		return gym.Observation{}, err
	}
	t := e.tasks[0]
	if opts.TaskID != "" {
		found := false
		for _, c := range e.tasks {
			if c.id == opts.TaskID {
				t, found = c, true
			}
		}
		if !found {
			return gym.Observation{}, fmt.Errorf("%w: %q", gym.ErrUnknownTask, opts.TaskID)
		}
	}
	if e.tab != nil && !e.tab.alive() {
		e.tab.Close()
		e.tab = nil
	}
	if e.tab == nil {
		url, err := e.suite.serve()
		if err != nil {
			return gym.Observation{}, err
		}
		tb, err := e.suite.Browser.newTab(ctx, e.scale)
		if err != nil {
			return gym.Observation{}, err
		}
		if err := tb.navigate(ctx, url); err != nil {
			tb.Close()
			return gym.Observation{}, fmt.Errorf("phone: load shell: %w", err)
		}
		e.tab = tb
	}
	st := initialState(rngFor(opts.Seed, "state"))
	ep := t.setup(rngFor(opts.Seed, t.id), &st)
	b, err := json.Marshal(st)
	if err != nil {
		return gym.Observation{}, fmt.Errorf("phone: state: %w", err)
	}
	if _, err := evalJS[bool](ctx, e.tab, "phone.reset("+string(b)+")"); err != nil {
		return gym.Observation{}, fmt.Errorf("phone: reset apps: %w", err)
	}
	e.task, e.ep, e.plan, e.reset = t, ep, 0, true
	e.turn = turn.Episode{AnswerTask: t.answer}
	obs, _, err := e.observe(ctx, "")
	if err != nil {
		return gym.Observation{}, err
	}
	e.turn.Last = obs
	return obs, nil
}

// readout is what one page evaluation returns after a step.
type readout struct {
	State  State `json:"state"`
	Screen struct {
		App      string `json:"app"`
		View     string `json:"view"`
		Menu     bool   `json:"menu"`
		Keyboard bool   `json:"keyboard"`
	} `json:"screen"`
	A11y []node `json:"a11y"`
}

type node struct {
	Text          string `json:"text"`
	Class         string `json:"class"`
	Bounds        [4]int `json:"bounds"`
	Clickable     bool   `json:"clickable"`
	ResourceID    string `json:"resource_id,omitempty"`
	ContentDesc   string `json:"content_desc,omitempty"`
	Hint          string `json:"hint,omitempty"`
	Focused       *bool  `json:"focused,omitempty"`
	Checked       *bool  `json:"checked,omitempty"`
	LongClickable bool   `json:"long_clickable,omitempty"`
}

// observe reads the store, the screen and the screenshot; it returns the
// observation and the readout for the validator.
func (e *Env) observe(ctx context.Context, answer string) (gym.Observation, readout, error) {
	expr := "({state: phone.state, screen: phone.screen()" + map[bool]string{true: ", a11y: phone.a11y()", false: ""}[e.a11y] + "})"
	// The state read and the screenshot are independent reads of the same
	// settled page: issue both at once, one round trip instead of two.
	var (
		png    []byte
		shotEr error
		wg     sync.WaitGroup
	)
	wg.Go(func() { png, shotEr = e.tab.screenshot(ctx) })
	ro, err := evalJS[readout](ctx, e.tab, expr)
	wg.Wait()
	if err != nil {
		return gym.Observation{}, ro, fmt.Errorf("phone: read state: %w", err)
	}
	if shotEr != nil {
		return gym.Observation{}, ro, fmt.Errorf("phone: screenshot: %w", shotEr)
	}
	w, h := e.ScreenSize()
	var b strings.Builder
	fmt.Fprintf(&b, "Goal: %s\nScreen: %dx%d pixels (phone). Step %d of %d.\n", e.ep.goal, w, h, e.turn.Steps, MaxSteps)
	if e.a11y {
		b.WriteString("UI elements:\n")
		for i, n := range ro.A11y {
			line, _ := json.Marshal(n)
			fmt.Fprintf(&b, "UI element %d: %s\n", i, line)
		}
	}
	obs := gym.Observation{Text: b.String(), Screenshot: png, Info: map[string]any{
		"task": e.task.id, "app": ro.Screen.App, "keyboard": ro.Screen.Keyboard, "width": w, "height": h,
	}}
	return obs, ro, nil
}

// Step implements gym.Env (gym.Enforced keeps the call order).
func (e *Env) Step(ctx context.Context, act string) (gym.StepResult, error) {
	return e.turn.Step(ctx, screen{e}, act)
}

// screen is the phone's side of a step (turn.Screen).
type screen struct{ e *Env }

func (s screen) Parse(act string) (action.Action, error) {
	w, h := s.e.ScreenSize()
	a, err := action.Parse(act, w, h)
	if err == nil && a.Type == action.OpenApp && !slices.ContainsFunc(appNames, func(n string) bool { return strings.EqualFold(n, a.AppName) }) {
		err = &action.Error{Field: "app_name", Msg: fmt.Sprintf("unknown app %q; installed: %s", a.AppName, strings.Join(appNames, ", "))}
	}
	return a, err
}

func (s screen) Exec(ctx context.Context, a action.Action) error { return s.e.exec(ctx, a) }

func (s screen) Observe(ctx context.Context, answer string) (gym.Observation, bool, error) {
	obs, ro, err := s.e.observe(ctx, answer)
	if err != nil {
		return obs, false, err
	}
	return obs, s.e.ep.check(ro.State, answer), nil
}

func (s screen) Failure(ctx context.Context, err error) (gym.StepResult, error) {
	return s.e.failure(ctx, err)
}

// failure turns an infrastructure error into a CRASHED or ENV_ERROR step
// that ends the episode; a cancelled caller gets the error back.
func (e *Env) failure(ctx context.Context, err error) (gym.StepResult, error) {
	if ctx.Err() != nil {
		return gym.StepResult{}, err
	}
	st := gym.StatusEnvError
	if errors.Is(err, ErrCrashed) || (e.tab != nil && !e.tab.alive()) {
		st = gym.StatusCrashed
	}
	return gym.Failed(st, fmt.Errorf("the phone failed: %w", err)), nil
}

var appNames = []string{"Contacts", "Clock", "Notes", "Calendar", "Settings", "Expenses"}

// exec performs a on the page. Coordinates arrive in screenshot pixels
// and become CSS pixels.
func (e *Env) exec(ctx context.Context, a action.Action) error {
	px := func(x, y int) [2]float64 { return [2]float64{float64(x) / e.scale, float64(y) / e.scale} }
	w, h := e.ScreenSize()
	switch a.Type {
	case action.Click:
		return e.tab.touch(ctx, [][2]float64{px(a.X, a.Y)}, 0)
	case action.DoubleTap:
		if err := e.tab.touch(ctx, [][2]float64{px(a.X, a.Y)}, 0); err != nil {
			return err
		}
		return e.tab.touch(ctx, [][2]float64{px(a.X, a.Y)}, 0)
	case action.LongPress:
		return e.tab.touch(ctx, [][2]float64{px(a.X, a.Y)}, 450*time.Millisecond)
	case action.Swipe, action.Scroll:
		x0, y0, x1, y1 := action.SwipeVector(a, w, h)
		pts := make([][2]float64, 0, 6)
		for i := range 6 {
			f := float64(i) / 5
			pts = append(pts, px(x0+int(f*float64(x1-x0)), y0+int(f*float64(y1-y0))))
		}
		return e.tab.touch(ctx, pts, 0)
	case action.InputText:
		if a.HasXY {
			if err := e.tab.touch(ctx, [][2]float64{px(a.X, a.Y)}, 0); err != nil {
				return err
			}
		}
		ok, err := evalJS[bool](ctx, e.tab, "phone.focused()")
		if err != nil {
			return err
		}
		if !ok {
			return &action.Error{Field: "text", Msg: "no text field has focus; tap one first or give x and y of a text field"}
		}
		return e.tab.insertText(ctx, a.Text)
	case action.KeyboardEnter:
		return e.tab.pressEnter(ctx)
	case action.NavigateBack:
		_, err := evalJS[any](ctx, e.tab, "phone.back()")
		return err
	case action.NavigateHome:
		_, err := evalJS[any](ctx, e.tab, "phone.home()")
		return err
	case action.OpenApp:
		_, err := evalJS[bool](ctx, e.tab, "phone.open("+jsonString(a.AppName)+")")
		return err
	case action.Wait:
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	case action.Answer:
	}
	return nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Screenshot implements gym.Screenshotter.
func (e *Env) Screenshot(ctx context.Context) ([]byte, error) {
	if e.tab == nil {
		return nil, gym.ErrNotReset
	}
	return e.tab.screenshot(ctx)
}

// found is the page's answer to phone.find: where the element is
// relative to its scroll container, its visible centre and the centre of
// that container, in screenshot pixels.
type found struct {
	Where string `json:"where"`
	X     int    `json:"x"`
	Y     int    `json:"y"`
	SX    int    `json:"sx"`
	SY    int    `json:"sy"`
}

// OracleAction implements gym.Oracle: the next action of the task's
// scripted plan, with coordinates taken from the target's bounds on the
// live screen (scrolling first when the target is off screen).
func (e *Env) OracleAction(ctx context.Context) (string, error) {
	if !e.reset || e.tab == nil {
		return "", gym.ErrNotReset
	}
	if e.plan >= len(e.ep.plan) {
		return action.Action{Type: action.Wait}.String(), nil
	}
	s := e.ep.plan[e.plan]
	var a action.Action
	switch s.kind {
	case "open":
		a = action.Action{Type: action.OpenApp, AppName: s.text}
	case "answer":
		a = action.Action{Type: action.Answer, Text: s.text}
	case "swipe":
		a = action.Action{Type: action.Swipe, Direction: s.text}
	default:
		f, err := e.find(ctx, s.sel)
		if err != nil {
			return "", err
		}
		if f.Where != "visible" {
			dir := map[string]string{"below": "down", "above": "up"}[f.Where]
			return action.Action{Type: action.Scroll, Direction: dir, X: f.SX, Y: f.SY, HasXY: f.SX > 0}.String(), nil
		}
		switch s.kind {
		case "tap":
			a = action.Action{Type: action.Click, X: f.X, Y: f.Y, HasXY: true}
		case "long":
			a = action.Action{Type: action.LongPress, X: f.X, Y: f.Y, HasXY: true}
		case "type":
			a = action.Action{Type: action.InputText, Text: s.text, X: f.X, Y: f.Y, HasXY: true}
		}
	}
	e.plan++
	return a.String(), nil
}

func (e *Env) find(ctx context.Context, sel string) (found, error) {
	f, err := evalJS[*found](ctx, e.tab, "phone.find("+jsonString(sel)+")")
	if err != nil {
		return found{}, fmt.Errorf("phone: oracle: %w", err)
	}
	if f == nil {
		return found{}, fmt.Errorf("phone: oracle: %s not on screen (task %s, step %d)", sel, e.task.id, e.plan)
	}
	return *f, nil
}

// Close implements gym.Env: it closes the tab; the last tab of the suite
// stops Chromium.
func (e *Env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.tab != nil {
		e.tab.Close()
		e.tab = nil
	}
	return nil
}
