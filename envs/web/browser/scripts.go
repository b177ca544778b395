package browser

import (
	"context"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
)

// ScriptMax bounds how long one script request holds the settle wait
// (as page.js bounds requests: a stalled CDN must not hold every step).
const ScriptMax = 2 * time.Second

// scriptLoadQuiet is the quiet period asked of the page after a script
// it was waiting for arrived: the module is evaluated in a later task.
const scriptLoadQuiet = 20 * time.Millisecond

// scriptLoads follows the tab's script requests from protocol events.
// Code a page loads on demand with import() (Vite, esbuild and Rollup
// builds split routes that way) is invisible to page.js: import() is
// syntax, not a function it could wrap, and it adds no element.
type scriptLoads struct {
	mu       sync.Mutex
	inflight map[network.RequestID]time.Time
	changed  chan struct{} // closed and replaced when a request ends
}

func (s *scriptLoads) listen(ev any) {
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Type != network.ResourceTypeScript {
			return
		}
		s.mu.Lock()
		if s.inflight == nil {
			s.inflight = map[network.RequestID]time.Time{}
		}
		if _, ok := s.inflight[e.RequestID]; !ok { // a redirect keeps its start
			s.inflight[e.RequestID] = time.Now()
		}
		s.mu.Unlock()
	case *network.EventLoadingFinished:
		s.end(e.RequestID)
	case *network.EventLoadingFailed:
		s.end(e.RequestID)
	case *network.EventRequestServedFromCache:
		s.end(e.RequestID)
	}
}

func (s *scriptLoads) end(id network.RequestID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inflight[id]; !ok {
		return
	}
	delete(s.inflight, id)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// pending reports when the youngest script request in flight stops
// holding the wait (zero: none holds it), and a channel closed when one
// ends. Requests past ScriptMax are forgotten.
func (s *scriptLoads) pending(now time.Time) (until time.Time, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t0 := range s.inflight {
		end := t0.Add(ScriptMax)
		if !end.After(now) {
			delete(s.inflight, id)
			continue
		}
		until = later(until, end)
	}
	if until.IsZero() {
		return until, nil
	}
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return until, s.changed
}

// wait waits until no script request holds the wait, or until deadline;
// it reports whether one was waited for.
func (s *scriptLoads) wait(ctx context.Context, deadline time.Time) (bool, error) {
	waited := false
	for {
		until, changed := s.pending(time.Now())
		if until.IsZero() {
			return waited, nil
		}
		if until.After(deadline) {
			until = deadline
		}
		if !time.Now().Before(until) {
			return waited, nil
		}
		waited = true
		if err := waitFor(ctx, changed, until); err != nil {
			return waited, err
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
