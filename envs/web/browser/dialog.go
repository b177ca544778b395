package browser

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ErrDialog is returned by a call that a JavaScript dialog (alert,
// confirm, prompt, beforeunload) interrupted: the page waits for the
// dialog to be answered, so the call could not finish. It is not a
// failure; Tab.Dialog says what is open.
var ErrDialog = errors.New("browser: a dialog is open")

// Dialog is an open JavaScript dialog.
type Dialog struct {
	Type          string `json:"type"` // alert, confirm, prompt, beforeunload
	Message       string `json:"message"`
	DefaultPrompt string `json:"default_prompt,omitempty"`
}

// dialogBox follows the tab's dialog from protocol events, and interrupts
// the calls in flight when one opens: the renderer answers nothing until
// the dialog is closed.
type dialogBox struct {
	mu    sync.Mutex
	cur   *Dialog
	hooks map[int]func()
	n     int
}

func (d *dialogBox) opened(dl *Dialog) {
	d.mu.Lock()
	d.cur = dl
	hooks := make([]func(), 0, len(d.hooks))
	for _, h := range d.hooks {
		hooks = append(hooks, h)
	}
	d.mu.Unlock()
	for _, h := range hooks {
		h()
	}
}

func (d *dialogBox) closed() {
	d.mu.Lock()
	d.cur = nil
	d.mu.Unlock()
}

func (d *dialogBox) current() *Dialog {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// hook calls interrupt when a dialog opens (at once when one is open)
// until the returned func is called.
func (d *dialogBox) hook(interrupt func()) func() {
	d.mu.Lock()
	if d.hooks == nil {
		d.hooks = map[int]func(){}
	}
	d.n++
	n := d.n
	d.hooks[n] = interrupt
	open := d.cur != nil
	d.mu.Unlock()
	if open {
		interrupt()
	}
	return func() {
		d.mu.Lock()
		delete(d.hooks, n)
		d.mu.Unlock()
	}
}

// listen is the tab's protocol listener for dialogs.
func (d *dialogBox) listen(ev any) {
	switch e := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		d.opened(&Dialog{Type: string(e.Type), Message: e.Message, DefaultPrompt: e.DefaultPrompt})
	case *page.EventJavascriptDialogClosed:
		d.closed()
	}
}

// Dialog is the dialog open on the tab, or nil.
func (t *Tab) Dialog() *Dialog { return t.dialog.current() }

// HandleDialog answers the open dialog: accept (OK, leave the page) or
// dismiss (Cancel, stay); text is typed into a prompt before accepting.
func (t *Tab) HandleDialog(ctx context.Context, accept bool, text *string) error {
	dl := t.dialog.current()
	if dl == nil {
		return actionErr("there is no dialog open")
	}
	if text != nil && dl.Type != "prompt" {
		return actionErr(fmt.Sprintf("the open dialog is a %s, which takes no text; use accept_dialog()", dl.Type))
	}
	p := page.HandleJavaScriptDialogParams{Accept: accept}
	if text != nil {
		p.PromptText = *text
	}
	// Not t.call: that one is interrupted while a dialog is open.
	err := t.m.proc.Call(ctx, t.ctx, t.gen, func(c context.Context) error {
		_, err := chromedp.Call(c, page.HandleJavaScriptDialog, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("browser: answer dialog: %w", err)
	}
	t.dialog.closed()
	if dl.Type == "beforeunload" && !accept {
		t.nav.stop() // the navigation it guarded is cancelled
	}
	return nil
}
