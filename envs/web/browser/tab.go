package browser

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
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
	frames frameContexts
	// scripts: script requests in flight (modules loaded with import()).
	scripts scriptLoads
	// docs counts documents committed in the tab's frames; adoptedDocs
	// is its value at the last adoptClosedRoots.
	docs        atomic.Int64
	adoptedDocs int64

	// Quiet is how long the DOM must stay unchanged (and no request be
	// pending) before the page counts as settled.
	Quiet time.Duration
	// MaxSettle bounds the settle wait; a page that never settles is
	// observed as it is.
	MaxSettle time.Duration

	nav navState
	// stay: a navigation of the tab turned into a download, so the page
	// did not go away after all (its script saw it leaving).
	stay atomic.Bool
	// mouseAt is where the last mouse event left the pointer; nil on a
	// new page. A click there needs no move first.
	mouseAt *[2]float64
	pressed bool // the left button is down (mouse_down, a drag)
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
		if res.IsDownload {
			// The page stays; the download is the session's to report.
			t.stay.Store(true)
			t.nav.stop()
			return nil
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
	if p, err = t.withClosedRoots(ctx, p, limit); err != nil {
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

// Preload loads url ahead of an episode: Open without the observation.
// The page is settled, its closed shadow roots adopted and its history
// forgotten, so an episode can start in it without a navigation.
func (t *Tab) Preload(ctx context.Context, url string) error {
	if err := t.startNavigation(ctx, url); err != nil {
		return err
	}
	if _, err := t.settle(ctx, -1, true); err != nil {
		return err
	}
	if _, err := t.withClosedRoots(ctx, nil, -1); err != nil {
		return err
	}
	return t.ResetHistory(ctx)
}

func isNavError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "context was destroyed") || strings.Contains(s, "Cannot find context") ||
		strings.Contains(s, "navigated or closed") || strings.Contains(s, "Execution context") ||
		strings.Contains(s, "not allowed") || strings.Contains(s, "Promise was collected")
}

// Back goes one entry back in history; false when there is none.
func (t *Tab) Back(ctx context.Context) (bool, error) { return t.history(ctx, -1) }

// Forward goes one entry forward in history; false when there is none.
func (t *Tab) Forward(ctx context.Context) (bool, error) { return t.history(ctx, 1) }

// history moves delta entries in the tab's history and settles.
func (t *Tab) history(ctx context.Context, delta int) (bool, error) {
	var moved bool
	err := t.call(ctx, func(c context.Context) error {
		h, err := chromedp.Call(c, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		i := int(h.CurrentIndex) + delta
		if i < 0 || i >= len(h.Entries) {
			return nil
		}
		t.nav.start()
		t.mouseAt = nil
		moved = true
		_, err = chromedp.Call(c, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[i].ID})
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
