package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ActionError is an action that could not apply to the page (missing id,
// wrong kind of element, a click that would hit something else); the
// agent's mistake, not the browser's.
type ActionError struct{ Msg string }

func (e *ActionError) Error() string { return e.Msg }

func actionErr(msg string) error {
	if msg == "" {
		return nil
	}
	return &ActionError{Msg: msg}
}

// located is where a click reaches an element, in viewport CSS pixels of
// the top frame, after page.js scrolled it into view.
type located struct {
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	Tag     string  `json:"tag"`
	Role    string  `json:"role"`
	Type    string  `json:"type"`
	Checked bool    `json:"checked"`
	Error   string  `json:"error"`
}

func (t *Tab) locate(ctx context.Context, id int) (located, error) {
	l, err := eval[located](ctx, t, fmt.Sprintf("window.__egym.locate(%d)", id), true)
	if err != nil {
		return l, err
	}
	return l, actionErr(l.Error)
}

// pageCall runs an __egym function that answers an error message ("" when
// it applied).
func (t *Tab) pageCall(ctx context.Context, expr string) error {
	msg, err := eval[string](ctx, t, expr, true)
	if err != nil {
		return err
	}
	return actionErr(msg)
}

// mouse sends one mouse event; a move while a button is held (a drag)
// says so, as a real mouse would.
func (t *Tab) mouse(ctx context.Context, typ input.DispatchMouseEventType, x, y float64, clicks int64) error {
	err := t.sendMouse(ctx, t.mouseParams(typ, x, y, clicks))
	t.moved(typ, x, y, err)
	return err
}

// mouseParams is the event typ at (x, y) with the buttons the pointer
// holds.
func (t *Tab) mouseParams(typ input.DispatchMouseEventType, x, y float64, clicks int64) input.DispatchMouseEventParams {
	p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y}
	switch typ {
	case input.DispatchMouseEventTypeMouseMoved:
		if t.pressed {
			p.Button, p.Buttons = input.MouseButtonLeft, 1
		}
	case input.DispatchMouseEventTypeMousePressed:
		p.Button, p.ClickCount, p.Buttons = input.MouseButtonLeft, clicks, 1
	default:
		p.Button, p.ClickCount = input.MouseButtonLeft, clicks
	}
	return p
}

// ClickOptions are a click's mouse button and the modifier keys held
// (BrowserGym's button= and modifiers=).
type ClickOptions struct {
	Button    string // "" or "left", "middle", "right"
	Modifiers int64  // the DevTools bits: Alt 1, Control 2, Meta 4, Shift 8
}

// button is o's button and its bit in a MouseEvent's buttons.
func (o ClickOptions) button() (input.MouseButton, int64) {
	switch o.Button {
	case "right":
		return input.MouseButtonRight, 2
	case "middle":
		return input.MouseButtonMiddle, 4
	}
	return input.MouseButtonLeft, 1
}

// pressParams is a press or release of o's button at (x, y), the
// clicks-th of a series.
func (t *Tab) pressParams(typ input.DispatchMouseEventType, x, y float64, clicks int64, o ClickOptions) input.DispatchMouseEventParams {
	p := t.mouseParams(typ, x, y, clicks)
	b, bit := o.button()
	p.Button, p.Modifiers = b, o.Modifiers
	if typ == input.DispatchMouseEventTypeMousePressed {
		p.Buttons = bit
	}
	return p
}

// sendMouse dispatches p and waits for Chromium's reply; it leaves the
// tab's pointer state alone, so it may run beside the tab's goroutine.
func (t *Tab) sendMouse(ctx context.Context, p input.DispatchMouseEventParams) error {
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Call(c, input.DispatchMouseEvent, p)
		return err
	})
}

// moved records where the pointer is after an event of type typ at
// (x, y) and whether a button is held (unknown after a failure).
func (t *Tab) moved(typ input.DispatchMouseEventType, x, y float64, err error) {
	if err != nil {
		t.mouseAt = nil
		return
	}
	t.mouseAt = &[2]float64{x, y}
	t.pressed = typ == input.DispatchMouseEventTypeMousePressed || t.pressed && typ == input.DispatchMouseEventTypeMouseMoved
}

// clickAt moves to (x, y) unless the pointer is there and clicks n times
// (n = 2: a double click, with the click counts a real one has).
//
// Chromium dispatches a mouse move at the page's next frame, or at once
// when a button event follows it: so the presses go out as soon as the
// move is written to Chromium, without waiting for its reply. The page
// sees the same events in the same order (TestClickEventOrder); the
// click no longer waits for a frame (~3.5 ms instead of ~14 here).
func (t *Tab) clickAt(ctx context.Context, x, y float64, n int, o ClickOptions) error {
	var moved chan error
	if t.mouseAt == nil || *t.mouseAt != [2]float64{x, y} {
		p := t.mouseParams(input.DispatchMouseEventTypeMouseMoved, x, y, 0)
		written, forget := t.m.proc.Written(string(t.sessionID()), input.CommandDispatchMouseEvent)
		moved = make(chan error, 1)
		go func() { moved <- t.sendMouse(ctx, p) }()
		var early error
		select {
		case <-written:
		case early = <-moved: // done, or failed, before it was seen written
			moved = nil
		}
		forget()
		if early != nil {
			t.moved(input.DispatchMouseEventTypeMouseMoved, x, y, early)
			return early
		}
	}
	err := t.presses(ctx, x, y, n, o)
	if moved != nil {
		if merr := <-moved; merr != nil {
			err = merr // the first failure in the events' order
		}
	}
	t.moved(input.DispatchMouseEventTypeMouseReleased, x, y, err)
	return err
}

// presses presses and releases o's button n times at (x, y).
func (t *Tab) presses(ctx context.Context, x, y float64, n int, o ClickOptions) error {
	for i := int64(1); i <= int64(n); i++ {
		if err := t.sendMouse(ctx, t.pressParams(input.DispatchMouseEventTypeMousePressed, x, y, i, o)); err != nil {
			return err
		}
		if err := t.sendMouse(ctx, t.pressParams(input.DispatchMouseEventTypeMouseReleased, x, y, i, o)); err != nil {
			return err
		}
	}
	return nil
}

// Click clicks element id with real mouse events at a point where the
// click reaches it (page.js checks what is there after scrolling it into
// view within its scroll containers and frames).
func (t *Tab) Click(ctx context.Context, id int) error {
	return t.ClickWith(ctx, id, 1, ClickOptions{})
}

// DblClick double-clicks element id.
func (t *Tab) DblClick(ctx context.Context, id int) error {
	return t.ClickWith(ctx, id, 2, ClickOptions{})
}

// ClickWith clicks element id n times (2: a double click) with o's
// button and modifier keys.
func (t *Tab) ClickWith(ctx context.Context, id, n int, o ClickOptions) error {
	l, err := t.locate(ctx, id)
	if err != nil {
		return err
	}
	if l.Tag == "SELECT" && n == 1 && o == (ClickOptions{}) {
		// A click would open a native pop-up; focusing is what it means here.
		return t.Focus(ctx, id)
	}
	return t.clickAt(ctx, l.X, l.Y, n, o)
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
func (t *Tab) Check(ctx context.Context, id int) error { return t.setChecked(ctx, id, true) }

// Uncheck clears checkbox id; a clear box stays clear.
func (t *Tab) Uncheck(ctx context.Context, id int) error { return t.setChecked(ctx, id, false) }

func (t *Tab) setChecked(ctx context.Context, id int, want bool) error {
	l, err := t.locate(ctx, id)
	if err != nil {
		return err
	}
	if l.Role != "checkbox" && l.Role != "radio" && l.Role != "switch" && l.Role != "menuitemcheckbox" {
		return actionErr(fmt.Sprintf("element %d is a %s, not a checkbox or radio; use click(%d)", id, strings.ToLower(cmp(l.Role, l.Tag)), id))
	}
	if !want && l.Role == "radio" {
		return actionErr(fmt.Sprintf("element %d is a radio button: it clears when another one of its group is checked", id))
	}
	if l.Checked == want {
		return nil
	}
	return t.clickAt(ctx, l.X, l.Y, 1, ClickOptions{})
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Focus focuses element id (in whatever frame it is).
func (t *Tab) Focus(ctx context.Context, id int) error {
	return t.pageCall(ctx, fmt.Sprintf("window.__egym.focus(%d)", id))
}

type prepared struct {
	Insert bool   `json:"insert"`
	Set    bool   `json:"set"`
	Error  string `json:"error"`
}

// Fill replaces the value of field id. Text fields and contenteditable
// elements get the text as trusted input; date, time, datetime-local,
// month, week, color and range inputs take their HTML value format and
// are set by value (typing does not reach them).
func (t *Tab) Fill(ctx context.Context, id int, text string) error {
	p, err := eval[prepared](ctx, t, fmt.Sprintf("window.__egym.prepFill(%d, %s)", id, jsString(text)), true)
	if err != nil {
		return err
	}
	if err := actionErr(p.Error); err != nil || p.Set {
		return err
	}
	if text != "" {
		if err := t.InsertText(ctx, text); err != nil {
			return err
		}
	}
	_, err = eval[string](ctx, t, fmt.Sprintf("window.__egym.changed(%d)", id), true)
	return err
}

// Clear empties field id.
func (t *Tab) Clear(ctx context.Context, id int) error { return t.Fill(ctx, id, "") }

// Select picks options (by label or value) in drop-down id; more than one
// only in a multiple select, which then has exactly those selected.
func (t *Tab) Select(ctx context.Context, id int, options ...string) error {
	if len(options) == 0 {
		return actionErr("select needs at least one option")
	}
	b, _ := json.Marshal(options)
	return t.pageCall(ctx, fmt.Sprintf("window.__egym.selectOption(%d, %s)", id, b))
}

// Upload sets the files of file input id (absolute paths the caller has
// checked), as a user choosing them in the file dialog; the page gets its
// input and change events.
func (t *Tab) Upload(ctx context.Context, id int, paths []string) error {
	if err := t.pageCall(ctx, fmt.Sprintf("window.__egym.fileInput(%d, %d)", id, len(paths))); err != nil {
		return err
	}
	return t.call(ctx, func(c context.Context) error {
		obj, err := t.elementObject(c, id)
		if err != nil {
			return err
		}
		defer chromedp.Call(c, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj})
		_, err = chromedp.Call(c, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: paths, ObjectID: obj})
		return err
	})
}

// Scroll scrolls the page by most of a screen.
func (t *Tab) Scroll(ctx context.Context, dir string) error {
	_, err := eval[string](ctx, t, fmt.Sprintf("window.__egym.scroll(%s)", jsString(dir)), false)
	return err
}

// Wheel turns the mouse wheel by (dx, dy) pixels where the pointer is
// (the viewport's centre on a new page), scrolling what is under it.
func (t *Tab) Wheel(ctx context.Context, dx, dy float64) error {
	x, y := 0.0, 0.0
	if t.mouseAt != nil {
		x, y = t.mouseAt[0], t.mouseAt[1]
	} else {
		v, err := t.viewport(ctx)
		if err != nil {
			return err
		}
		x, y = v[0]/2, v[1]/2
	}
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Call(c, dispatchWheel, wheelParams{Type: input.DispatchMouseEventTypeMouseWheel, X: x, Y: y, DeltaX: dx, DeltaY: dy})
		return err
	})
}

// wheelParams is a wheel event with both deltas always sent: Chromium
// requires them, and cdproto's params omit a zero delta (so scroll(0, dy)
// failed).
type wheelParams struct {
	Type   input.DispatchMouseEventType `json:"type"`
	X      float64                      `json:"x"`
	Y      float64                      `json:"y"`
	DeltaX float64                      `json:"deltaX"`
	DeltaY float64                      `json:"deltaY"`
}

var dispatchWheel = cdp.Command[wheelParams, cdp.Empty]{Method: input.CommandDispatchMouseEvent}

func (t *Tab) viewport(ctx context.Context) ([2]float64, error) {
	return eval[[2]float64](ctx, t, "[innerWidth, innerHeight]", false)
}

// inViewport checks points given by the agent.
func (t *Tab) inViewport(ctx context.Context, pts ...float64) error {
	v, err := t.viewport(ctx)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(pts); i += 2 {
		x, y := pts[i], pts[i+1]
		if math.IsNaN(x) || math.IsNaN(y) || x < 0 || y < 0 || x >= v[0] || y >= v[1] {
			return actionErr(fmt.Sprintf("point (%g, %g) is outside the viewport (0 ≤ x < %g, 0 ≤ y < %g); scroll first", x, y, v[0], v[1]))
		}
	}
	return nil
}

// MouseClick clicks (n = 2: double-clicks) at viewport point (x, y).
func (t *Tab) MouseClick(ctx context.Context, x, y float64, n int) error {
	return t.MouseClickWith(ctx, x, y, n, ClickOptions{})
}

// MouseClickWith is MouseClick with o's button and modifier keys.
func (t *Tab) MouseClickWith(ctx context.Context, x, y float64, n int, o ClickOptions) error {
	if err := t.inViewport(ctx, x, y); err != nil {
		return err
	}
	return t.clickAt(ctx, x, y, n, o)
}

// MouseMove moves the pointer to (x, y), dragging when a button is held.
func (t *Tab) MouseMove(ctx context.Context, x, y float64) error {
	if err := t.inViewport(ctx, x, y); err != nil {
		return err
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMouseMoved, x, y, 0)
}

// MouseDown presses the left button at (x, y); MouseUp releases it.
func (t *Tab) MouseDown(ctx context.Context, x, y float64) error {
	if err := t.MouseMove(ctx, x, y); err != nil {
		return err
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMousePressed, x, y, 1)
}

// MouseUp releases the left button at (x, y).
func (t *Tab) MouseUp(ctx context.Context, x, y float64) error {
	if err := t.MouseMove(ctx, x, y); err != nil {
		return err
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMouseReleased, x, y, 1)
}

// MouseDrag presses at (x1, y1), moves to (x2, y2) in steps and releases.
func (t *Tab) MouseDrag(ctx context.Context, x1, y1, x2, y2 float64) error {
	if err := t.inViewport(ctx, x1, y1, x2, y2); err != nil {
		return err
	}
	return t.drag(ctx, x1, y1, x2, y2)
}

// Drag drags element from onto element to.
func (t *Tab) Drag(ctx context.Context, from, to int) error {
	a, err := t.locate(ctx, from)
	if err != nil {
		return err
	}
	b, err := t.locate(ctx, to)
	if err != nil {
		return err
	}
	// Bringing the target into view may have moved the source.
	a2, err := t.locate(ctx, from)
	if err != nil {
		return err
	}
	if a2 != a {
		if b, err = t.locate(ctx, to); err != nil {
			return err
		}
		if a3, err := t.locate(ctx, from); err != nil || a3 != a2 {
			return actionErr(fmt.Sprintf("elements %d and %d cannot be on the screen together; use mouse_drag(x1, y1, x2, y2) after scrolling", from, to))
		}
	}
	return t.drag(ctx, a2.X, a2.Y, b.X, b.Y)
}

// dragSteps is how many moves a drag makes between press and release:
// enough for pages that follow the pointer and for the HTML drag-and-drop
// threshold.
const dragSteps = 6

func (t *Tab) drag(ctx context.Context, x1, y1, x2, y2 float64) error {
	if err := t.mouse(ctx, input.DispatchMouseEventTypeMouseMoved, x1, y1, 0); err != nil {
		return err
	}
	if err := t.mouse(ctx, input.DispatchMouseEventTypeMousePressed, x1, y1, 1); err != nil {
		return err
	}
	for i := 1; i <= dragSteps; i++ {
		f := float64(i) / dragSteps
		if err := t.mouse(ctx, input.DispatchMouseEventTypeMouseMoved, x1+(x2-x1)*f, y1+(y2-y1)*f, 0); err != nil {
			return err
		}
	}
	return t.mouse(ctx, input.DispatchMouseEventTypeMouseReleased, x2, y2, 1)
}

// InsertText types text into the focused element as one trusted input
// (as an IME would), without key events.
func (t *Tab) InsertText(ctx context.Context, text string) error {
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Call(c, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
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
