package browser

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultQuiet is the settle wait's default quiet period. Work a page
// schedules by timer, request, message or animation frame is waited for
// as such (page.js); the quiet period guards only what is not tracked,
// e.g. a browser API that answers in a later task (IndexedDB).
const DefaultQuiet = 8 * time.Millisecond

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
	if err == nil {
		p, err = t.withClosedRoots(ctx, p, limit)
	}
	if err != nil || p != nil {
		return deref(p), err
	}
	return t.Observe(ctx, limit)
}

// withClosedRoots observes again when a new document brought closed
// shadow roots the page script could not see (adoptClosedRoots); p is
// the observation taken before.
func (t *Tab) withClosedRoots(ctx context.Context, p *Page, limit int) (*Page, error) {
	found, err := t.adoptClosedRoots(ctx)
	if errors.Is(err, ErrCrashed) || ctx.Err() != nil {
		return p, err
	}
	if !found || p == nil {
		return p, nil // a failed walk (a dialog, a navigation) leaves the observation as it was
	}
	np, err := t.Observe(ctx, limit)
	if err != nil {
		return p, err
	}
	return &np, nil
}

// waitFor waits until ch is closed or until passes; only ctx ending is
// an error.
func waitFor(ctx context.Context, ch <-chan struct{}, until time.Time) error {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
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
	// DL: a link that downloads was clicked since the last answer.
	DL bool `json:"dl"`
	// Clip is what the page put on the clipboard since the last answer
	// (writeText, execCommand('copy')).
	Clip *string `json:"clip"`
}

// settle runs the page's event-driven settle wait (page.js) and follows
// navigations; with limit >= 0 the answer carries the observation. fresh
// means a navigation just committed the current document (Open): the wait
// then starts in that document at once instead of waiting for the
// browser's load-stopped event, since the page's own wait covers the load.
func (t *Tab) settle(ctx context.Context, limit int, fresh bool) (*Page, error) {
	deadline := time.Now().Add(t.MaxSettle)
	// after is the quiet period asked from the page's next answer on: a
	// script it loaded on demand arrived and runs in a later task.
	var after time.Duration
	for {
		if w := t.nav.wait(); w != nil && !fresh {
			if !time.Now().Before(deadline) {
				return nil, nil // observe the page as it is
			}
			if err := waitFor(ctx, w, deadline); err != nil {
				return nil, err
			}
		}
		left := max(time.Until(deadline).Milliseconds(), 1)
		expr := fmt.Sprintf("window.__egym ? window.__egym.settle(%d, %d, %d, %d) : {s: 'noscript'}", t.Quiet.Milliseconds(), left, limit, after.Milliseconds())
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
		case res.S == "nav" && t.stay.Swap(false):
			// The page is staying: it left for a download.
			if _, err := eval[bool](ctx, t, "window.__egym ? window.__egym.stay() : false", false); err != nil && !isNavError(err) {
				return nil, err
			}
			continue
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
		if res.S == "ok" {
			waited, err := t.scripts.wait(ctx, deadline)
			if err != nil {
				return nil, err
			}
			if waited {
				after = scriptLoadQuiet
				continue
			}
		}
		if res.Clip != nil && t.sess != nil {
			t.sess.setClip(*res.Clip)
		}
		if t.sess != nil {
			// A download the step started is shown finished (or as far as
			// it got); one a click started may not have begun yet.
			if err := t.sess.waitDownloads(ctx, res.DL, deadline); err != nil {
				return nil, err
			}
		}
		return res.Page, nil
	}
}
