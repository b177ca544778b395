package browser

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Tab is one page of a Session (see tabs.go for its life: creation,
// calls, closing). Not safe for concurrent use.
type Tab struct {
	m      *Manager
	sess   *Session
	gen    uint64
	id     target.ID
	ctx    context.Context
	cancel context.CancelFunc
	dialog dialogBox

	// Quiet is how long the DOM must stay unchanged (and no request be
	// pending) before the page counts as settled.
	Quiet time.Duration
	// MaxSettle bounds the settle wait; a page that never settles is
	// observed as it is.
	MaxSettle time.Duration

	nav navState
	// mouseAt is where the last mouse event left the pointer; nil on a
	// new page. A click there needs no move first.
	mouseAt *[2]float64
}

// navState follows main-frame loads from protocol events, so the settle
// wait knows a navigation is in flight even before the new document exists.
type navState struct {
	mu      sync.Mutex
	loading bool
	done    chan struct{} // closed when the current load stops
}

func (n *navState) start() {
	n.mu.Lock()
	if !n.loading {
		n.loading = true
		n.done = make(chan struct{})
	}
	n.mu.Unlock()
}

func (n *navState) stop() {
	n.mu.Lock()
	if n.loading {
		n.loading = false
		close(n.done)
	}
	n.mu.Unlock()
}

func (n *navState) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.loading {
		return nil
	}
	return n.done
}

// eval evaluates a JS expression and decodes its JSON value into T.
func eval[T any](ctx context.Context, t *Tab, expr string, await bool) (T, error) {
	var v T
	err := t.call(ctx, func(c context.Context) error {
		opts := []chromedp.EvaluateOption{}
		if await {
			opts = append(opts, chromedp.EvalAwaitPromise)
		}
		var err error
		v, err = chromedp.Run(c, chromedp.Evaluate[T](expr, opts...))
		return err
	})
	return v, err
}

// Eval evaluates expr in the page and decodes its value into T. Promises
// are awaited.
func Eval[T any](ctx context.Context, t *Tab, expr string) (T, error) {
	return eval[T](ctx, t, expr, true)
}

// Navigate loads url and waits until the page settled.
func (t *Tab) Navigate(ctx context.Context, url string) error {
	if err := t.startNavigation(ctx, url); err != nil {
		return err
	}
	return t.Settle(ctx)
}

// startNavigation sends Page.navigate for url; the caller then waits for
// the new document to settle.
func (t *Tab) startNavigation(ctx context.Context, url string) error {
	t.mouseAt = nil
	// Page.navigate can answer before the new document commits: mark the
	// current one as left, so a settle wait that still reaches it answers
	// 'nav' instead of observing the previous episode's page.
	lc, cancel := context.WithTimeout(ctx, time.Second)
	_, _ = eval[bool](lc, t, "window.__egym ? window.__egym.leave() : true", false)
	cancel()
	t.nav.start()
	err := t.call(ctx, func(c context.Context) error {
		res, err := chromedp.Call(c, page.Navigate, page.NavigateParams{URL: url})
		if err != nil {
			return err
		}
		if res.ErrorText != "" {
			return fmt.Errorf("browser: navigate %s: %s", url, res.ErrorText)
		}
		return nil
	})
	if err != nil {
		t.nav.stop()
		return err
	}
	return nil
}

// ResetHistory forgets every history entry but the current one.
func (t *Tab) ResetHistory(ctx context.Context) error {
	return t.call(ctx, func(c context.Context) error {
		if _, err := chromedp.Call(c, page.ResetNavigationHistory, cdp.Empty{}); err != nil {
			return fmt.Errorf("reset history: %w", err)
		}
		return nil
	})
}

// Settle waits, bounded by MaxSettle, until no navigation is in flight, the
// document is complete, no request or short timer is pending and the DOM
// has been quiet for Quiet since its last change or input. Navigations
// started by the last action are followed.
func (t *Tab) Settle(ctx context.Context) error {
	_, err := t.settle(ctx, -1, false)
	return err
}

// SettleObserve is Settle followed by Observe, in one round trip: the page
// resolves its settle wait with the observation taken in the same task.
func (t *Tab) SettleObserve(ctx context.Context, limit int) (Page, error) {
	p, err := t.settle(ctx, limit, false)
	if err != nil || p != nil {
		return deref(p), err
	}
	return t.Observe(ctx, limit)
}

func deref(p *Page) Page {
	if p == nil {
		return Page{}
	}
	return *p
}

// settled is the page's answer to a settle wait.
type settled struct {
	S    string `json:"s"` // ok, timeout, nav, noscript
	Page *Page  `json:"page"`
}

// settle runs the page's event-driven settle wait (page.js) and follows
// navigations; with limit >= 0 the answer carries the observation. fresh
// means a navigation just committed the current document (Open): the wait
// then starts in that document at once instead of waiting for the
// browser's load-stopped event, since the page's own wait covers the load.
func (t *Tab) settle(ctx context.Context, limit int, fresh bool) (*Page, error) {
	deadline := time.Now().Add(t.MaxSettle)
	for {
		if w := t.nav.wait(); w != nil && !fresh {
			wait := time.Until(deadline)
			if wait <= 0 {
				return nil, nil // observe the page as it is
			}
			timer := time.NewTimer(wait)
			select {
			case <-w:
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			}
			timer.Stop()
		}
		left := max(time.Until(deadline).Milliseconds(), 1)
		expr := fmt.Sprintf("window.__egym ? window.__egym.settle(%d, %d, %d) : {s: 'noscript'}", t.Quiet.Milliseconds(), left, limit)
		res, err := eval[settled](ctx, t, expr, true)
		if err != nil {
			if errors.Is(err, ErrCrashed) || ctx.Err() != nil {
				return nil, err
			}
			// The document went away under the evaluation: retry on the new one.
			if time.Now().Before(deadline) && isNavError(err) {
				fresh = false
				continue
			}
			return nil, fmt.Errorf("browser: settle: %w", err)
		}
		switch {
		case res.S == "nav" || res.S == "noscript":
			fresh, t.mouseAt = false, nil
			if time.Now().After(deadline) {
				return nil, nil
			}
			if t.nav.wait() == nil && res.S == "nav" {
				// beforeunload fired but the load has not been seen yet:
				// give the event a moment without spinning hot.
				select {
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			continue
		case !fresh && t.nav.wait() != nil && time.Now().Before(deadline):
			continue // a navigation began during the quiet period
		}
		return res.Page, nil
	}
}

// Open starts a new episode's page: it loads url, returns the settled
// page's observation and forgets the history behind it.
func (t *Tab) Open(ctx context.Context, url string, limit int) (Page, error) {
	if err := t.startNavigation(ctx, url); err != nil {
		return Page{}, err
	}
	p, err := t.settle(ctx, limit, true)
	if err != nil {
		return Page{}, err
	}
	// After the settle, not alongside it: right after Page.navigate
	// returns the new entry may not be committed to the history yet.
	if err := t.ResetHistory(ctx); err != nil {
		return Page{}, err
	}
	if p != nil {
		return *p, nil
	}
	return t.Observe(ctx, limit)
}

func isNavError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "context was destroyed") || strings.Contains(s, "Cannot find context") ||
		strings.Contains(s, "navigated or closed") || strings.Contains(s, "Execution context") ||
		strings.Contains(s, "not allowed") || strings.Contains(s, "Promise was collected")
}

// Node is one line of the observation.
type Node struct {
	ID       int      `json:"id"` // data-bid; 0 for text lines
	Role     string   `json:"role"`
	Name     string   `json:"name"`
	Value    *string  `json:"value,omitempty"`
	Checked  *bool    `json:"checked,omitempty"`
	Options  []string `json:"options,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
	ReadOnly bool     `json:"readonly,omitempty"` // a text field that takes no typing (e.g. a date picker's)
	Selected bool     `json:"selected,omitempty"`
	Expanded *bool    `json:"expanded,omitempty"`
	Focused  bool     `json:"focused,omitempty"`
}

// Page is a snapshot of the page as the agent sees it.
type Page struct {
	URL       string         `json:"url"`
	Title     string         `json:"title"`
	Nodes     []Node         `json:"nodes"`
	Truncated bool           `json:"truncated"`
	State     map[string]any `json:"state"` // window.__egState of task pages
	ScrollY   int            `json:"scrollY"`
	ScrollMax int            `json:"scrollMax"`
}

// Observe snapshots the page (ids are assigned to new elements).
func (t *Tab) Observe(ctx context.Context, limit int) (Page, error) {
	for attempt := 0; ; attempt++ {
		p, err := eval[Page](ctx, t, fmt.Sprintf("window.__egym.observe(%d)", limit), false)
		if err != nil && attempt < 3 && isNavError(err) && ctx.Err() == nil {
			if err := t.Settle(ctx); err != nil {
				return p, err
			}
			continue
		}
		if err != nil {
			return p, fmt.Errorf("browser: observe: %w", err)
		}
		return p, nil
	}
}

// ActionError is an action that could not apply to the page (missing id,
// wrong kind of element); the agent's mistake, not the browser's.
type ActionError struct{ Msg string }

func (e *ActionError) Error() string { return e.Msg }

func actionErr(msg string) error {
	if msg == "" {
		return nil
	}
	return &ActionError{Msg: msg}
}

type located struct {
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	Tag     string  `json:"tag"`
	Role    string  `json:"role"`
	Checked bool    `json:"checked"`
	Error   string  `json:"error"`
}

func (t *Tab) locate(ctx context.Context, id int) (located, error) {
	l, err := eval[located](ctx, t, fmt.Sprintf("window.__egym.locate(%d)", id), false)
	if err != nil {
		return l, err
	}
	return l, actionErr(l.Error)
}

func (t *Tab) mouse(ctx context.Context, typ input.DispatchMouseEventType, x, y float64, clicks int64) error {
	return t.call(ctx, func(c context.Context) error {
		p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y}
		if typ != input.DispatchMouseEventTypeMouseMoved {
			p.Button, p.ClickCount = input.MouseButtonLeft, clicks
			if typ == input.DispatchMouseEventTypeMousePressed {
				p.Buttons = 1
			}
		}
		_, err := chromedp.Call(c, input.DispatchMouseEvent, p)
		if err != nil {
			t.mouseAt = nil
			return err
		}
		t.mouseAt = &[2]float64{x, y}
		return nil
	})
}

// Click clicks element id with real mouse events at its centre.
func (t *Tab) Click(ctx context.Context, id int) error {
	l, err := t.locate(ctx, id)
	if err != nil {
		return err
	}
	if l.Tag == "SELECT" {
		// A click would open a native pop-up; focusing is what it means here.
		_, err := eval[bool](ctx, t, fmt.Sprintf("(document.querySelector('[data-bid=\"%d\"]').focus(), true)", id), false)
		return err
	}
	if t.mouseAt == nil || *t.mouseAt != [2]float64{l.X, l.Y} {
		if err := t.mouse(ctx, input.DispatchMouseEventTypeMouseMoved, l.X, l.Y, 0); err != nil {
			return err
		}
	}
	if err := t.mouse(ctx, input.DispatchMouseEventTypeMousePressed, l.X, l.Y, 1); err != nil {
		return err
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMouseReleased, l.X, l.Y, 1)
}

// Hover moves the mouse over element id.
func (t *Tab) Hover(ctx context.Context, id int) error {
	l, err := t.locate(ctx, id)
	if err != nil {
		return err
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMouseMoved, l.X, l.Y, 0)
}

// Check ticks checkbox or radio id; an already ticked box stays ticked.
func (t *Tab) Check(ctx context.Context, id int) error {
	l, err := t.locate(ctx, id)
	if err != nil {
		return err
	}
	if l.Role != "checkbox" && l.Role != "radio" && l.Role != "switch" {
		return actionErr(fmt.Sprintf("element %d is a %s, not a checkbox or radio; use click(%d)", id, strings.ToLower(cmp(l.Role, l.Tag)), id))
	}
	if l.Checked {
		return nil
	}
	return t.Click(ctx, id)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Fill replaces the text of field id, typing it as trusted input.
func (t *Tab) Fill(ctx context.Context, id int, text string) error {
	msg, err := eval[string](ctx, t, fmt.Sprintf("window.__egym.prepFill(%d)", id), false)
	if err != nil {
		return err
	}
	if err := actionErr(msg); err != nil {
		return err
	}
	if text != "" {
		err = t.call(ctx, func(c context.Context) error {
			_, err := chromedp.Call(c, input.InsertText, input.InsertTextParams{Text: text})
			return err
		})
		if err != nil {
			return err
		}
	}
	_, err = eval[string](ctx, t, fmt.Sprintf("window.__egym.changed(%d)", id), false)
	return err
}

// Select picks the option with the given label (or value) in drop-down id.
func (t *Tab) Select(ctx context.Context, id int, option string) error {
	msg, err := eval[string](ctx, t, fmt.Sprintf("window.__egym.selectOption(%d, %s)", id, jsString(option)), false)
	if err != nil {
		return err
	}
	return actionErr(msg)
}

// Scroll scrolls the page by most of a screen.
func (t *Tab) Scroll(ctx context.Context, dir string) error {
	_, err := eval[string](ctx, t, fmt.Sprintf("window.__egym.scroll(%s)", jsString(dir)), false)
	return err
}

type keyDef struct {
	key, code, text string
	vk              int64
}

var keys = map[string]keyDef{
	"enter":      {"Enter", "Enter", "\r", 13},
	"tab":        {"Tab", "Tab", "", 9},
	"escape":     {"Escape", "Escape", "", 27},
	"backspace":  {"Backspace", "Backspace", "", 8},
	"delete":     {"Delete", "Delete", "", 46},
	"arrowup":    {"ArrowUp", "ArrowUp", "", 38},
	"arrowdown":  {"ArrowDown", "ArrowDown", "", 40},
	"arrowleft":  {"ArrowLeft", "ArrowLeft", "", 37},
	"arrowright": {"ArrowRight", "ArrowRight", "", 39},
	"home":       {"Home", "Home", "", 36},
	"end":        {"End", "End", "", 35},
	"pageup":     {"PageUp", "PageUp", "", 33},
	"pagedown":   {"PageDown", "PageDown", "", 34},
	"space":      {" ", "Space", " ", 32},
}

// KeyNames lists the keys Press knows besides single characters.
func KeyNames() []string {
	return []string{"Enter", "Tab", "Escape", "Backspace", "Delete", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown", "Space"}
}

// Press sends one key press to the focused element.
func (t *Tab) Press(ctx context.Context, key string) error {
	k, ok := keys[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(key))]
	if !ok {
		r := []rune(key)
		if len(r) != 1 {
			return actionErr(fmt.Sprintf("unknown key %q; use a single character or one of %s", key, strings.Join(KeyNames(), ", ")))
		}
		k = keyDef{key: key, text: key}
		if c := strings.ToUpper(key); len(c) == 1 && c[0] >= 'A' && c[0] <= 'Z' {
			k.code, k.vk = "Key"+c, int64(c[0])
		}
	}
	return t.call(ctx, func(c context.Context) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k.key, Code: k.code, Text: k.text, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}
		if k.text == "" {
			down.Type = input.DispatchKeyEventTypeRawKeyDown
		}
		if _, err := chromedp.Call(c, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: k.key, Code: k.code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}
		_, err := chromedp.Call(c, input.DispatchKeyEvent, up)
		return err
	})
}

// Back goes one entry back in history; false when there is none.
func (t *Tab) Back(ctx context.Context) (bool, error) {
	var moved bool
	err := t.call(ctx, func(c context.Context) error {
		h, err := chromedp.Call(c, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if h.CurrentIndex <= 0 {
			return nil
		}
		t.nav.start()
		t.mouseAt = nil
		moved = true
		_, err = chromedp.Call(c, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
		return err
	})
	if err != nil || !moved {
		if moved {
			t.nav.stop()
		}
		return moved, err
	}
	return true, t.Settle(ctx)
}

// Screenshot captures the viewport as PNG.
func (t *Tab) Screenshot(ctx context.Context) ([]byte, error) {
	var png []byte
	err := t.call(ctx, func(c context.Context) error {
		res, err := chromedp.Call(c, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
		if err != nil {
			return err
		}
		png = res.Data
		return nil
	})
	return png, err
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
