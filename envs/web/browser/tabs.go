package browser

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/envgym/envgym/envs/internal/chromium"
)

// newTab attaches a page to the session: a new one (opts name the
// browser context) or an existing one the page opened (WithTargetID), and
// prepares it: navigation and dialog listeners, the page script.
func (s *Session) newTab(ctx context.Context, opts ...chromedp.ContextOption) (*Tab, error) {
	t := &Tab{m: s.m, sess: s, gen: s.gen, Quiet: s.Quiet, MaxSettle: s.MaxSettle}
	var mainFrame string
	opts = append(opts, chromedp.WithListener(func(ev any) {
		t.dialog.listen(ev)
		t.frames.listen(ev)
		t.scripts.listen(ev)
		switch e := ev.(type) {
		case *page.EventFrameRequestedNavigation:
			if string(e.FrameID) == mainFrame {
				t.nav.start()
			}
		case *page.EventFrameStartedLoading:
			if string(e.FrameID) == mainFrame {
				t.nav.start()
			}
		case *page.EventFrameNavigated:
			t.docs.Add(1)
		case *page.EventFrameStoppedLoading:
			if string(e.FrameID) == mainFrame {
				t.nav.stop()
			}
		}
	}))
	tctx, cancel, err := chromium.NewPage(ctx, s.bctx, opts...)
	if err != nil {
		return nil, t.wrap(err)
	}
	t.ctx, t.cancel = tctx, cancel
	t.id = chromedp.FromContext(tctx).Target.TargetID
	mainFrame = string(t.id)
	err = t.call(ctx, func(c context.Context) error {
		// Page events: dialogs and frame loads (the latter also for the
		// settle wait).
		if _, err := chromedp.Call(c, page.Enable, page.EnableParams{}); err != nil {
			return err
		}
		// Network events, for script requests only (scriptLoads); no
		// bodies are kept for the protocol.
		if _, err := chromedp.Call(c, network.Enable, network.EnableParams{MaxTotalBufferSize: ptr[int64](1 << 10), MaxResourceBufferSize: ptr[int64](1)}); err != nil {
			return err
		}
		if _, err := chromedp.Call(c, page.SetLifecycleEventsEnabled, page.SetLifecycleEventsEnabledParams{Enabled: false}); err != nil {
			return err
		}
		_, err := chromedp.Call(c, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageScript(), RunImmediately: ptr(true)})
		return err
	})
	if err != nil && !errors.Is(err, ErrDialog) {
		go cancel()
		return nil, fmt.Errorf("browser: prepare tab: %w", err)
	}
	return t, nil
}

func ptr[T any](v T) *T { return &v }

// sessionID is the tab's target session: the one its commands carry.
func (t *Tab) sessionID() target.SessionID {
	if c := chromedp.FromContext(t.ctx); c != nil && c.Target != nil {
		return c.Target.SessionID
	}
	return ""
}

// Close closes the tab; the last tab of a session closes the session.
func (t *Tab) Close() error {
	s := t.sess
	s.mu.Lock()
	last := len(s.tabs) <= 1
	s.mu.Unlock()
	if last {
		return s.Close()
	}
	_, err := s.closeTab(context.Background(), t)
	return err
}

// Gone reports whether the browser detached the tab's page (it closed).
func (t *Tab) Gone() bool {
	ch, err := chromedp.Detached(t.ctx)
	if err != nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// GoneSoon is Gone, waiting up to d for the browser to say so: a page
// closing itself (window.close in a click handler) can fail the call in
// flight before its detach event arrives.
func (t *Tab) GoneSoon(d time.Duration) bool {
	ch, err := chromedp.Detached(t.ctx)
	if err != nil {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}

// Alive reports whether the tab's browser still runs.
func (t *Tab) Alive() bool { return t.m.Alive(t.gen) }

// wrap marks errors caused by a dead browser with ErrCrashed.
func (t *Tab) wrap(err error) error {
	if err == nil || errors.Is(err, ErrCrashed) {
		return err
	}
	if !t.m.Alive(t.gen) {
		return fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	return err
}

// call runs f with a context that ends with ctx, the tab, callTimeout, or
// a dialog opening (the renderer answers nothing while one is open): then
// it returns ErrDialog.
func (t *Tab) call(ctx context.Context, f func(c context.Context) error) error {
	dctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	unhook := t.dialog.hook(interrupt)
	defer unhook()
	err := t.m.proc.Call(dctx, t.ctx, t.gen, f)
	if err != nil && ctx.Err() == nil && t.dialog.current() != nil {
		return ErrDialog
	}
	return err
}

// TabInfo describes one open tab for the observation.
type TabInfo struct {
	Title  string `json:"title"`
	URL    string `json:"url"`
	Active bool   `json:"active"`
}

// Sync adopts the pages the pages opened (target=_blank, window.open) as
// tabs, the newest becoming active, and drops tabs the pages closed
// (window.close). It reports whether the active tab changed.
func (s *Session) Sync(ctx context.Context) (bool, error) {
	s.mu.Lock()
	opened := s.opened
	s.opened = nil
	before := s.activeLocked()
	// Tabs whose page is gone (closed by script).
	kept := s.tabs[:0]
	for i, t := range s.tabs {
		if _, live := s.info[t.id]; (live || len(s.info) == 0) && !t.Gone() {
			kept = append(kept, t)
		} else {
			go t.cancel()
			if i <= s.active && s.active > 0 {
				s.active--
			}
		}
	}
	s.tabs = kept
	s.mu.Unlock()
	var errs error
	for _, id := range opened {
		s.mu.Lock()
		_, live := s.info[id]
		mine := s.hasTabLocked(id) || s.ownedBy[id]
		s.mu.Unlock()
		if !live || mine {
			continue // gone already, or a page we made (its event came first)
		}
		t, err := s.newTab(ctx, chromedp.WithTargetID(id))
		if err != nil {
			s.mu.Lock()
			_, live := s.info[id]
			s.mu.Unlock()
			if live {
				errs = errors.Join(errs, err)
			} // else it closed while we attached: nothing to adopt
			continue
		}
		s.mu.Lock()
		s.tabs = append(s.tabs, t)
		s.active = len(s.tabs) - 1
		s.mu.Unlock()
	}
	s.mu.Lock()
	empty := len(s.tabs) == 0
	s.mu.Unlock()
	if empty {
		// The page closed the episode's last tab: give it a blank one.
		t, err := s.newTab(ctx, chromedp.WithExistingBrowserContext(s.id))
		if err != nil {
			return true, fmt.Errorf("browser: replace the closed last tab: %w", err)
		}
		s.mu.Lock()
		s.ownedBy[t.id] = true
		s.tabs, s.active = []*Tab{t}, 0
		s.mu.Unlock()
	}
	s.mu.Lock()
	if s.active >= len(s.tabs) {
		s.active = len(s.tabs) - 1
	}
	changed := s.activeLocked() != before
	several := len(s.tabs) > 1
	s.mu.Unlock()
	if several {
		// Title changes reach the browser's target list late; ask it.
		errs = errors.Join(errs, s.refreshInfo(ctx))
	}
	if errs != nil {
		return changed, fmt.Errorf("browser: adopt opened tab: %w", errs)
	}
	if changed {
		return true, s.Active().bringToFront(ctx)
	}
	return false, nil
}

func (s *Session) activeLocked() *Tab {
	if len(s.tabs) == 0 {
		return nil
	}
	return s.tabs[s.active]
}

// refreshInfo reads the titles and URLs of the context's pages.
func (s *Session) refreshInfo(ctx context.Context) error {
	var infos []*target.Info
	err := s.m.proc.Call(ctx, s.bctx, s.gen, func(c context.Context) error {
		res, err := chromedp.CallBrowser(c, target.GetTargets, target.GetTargetsParams{})
		if err == nil {
			infos = res.TargetInfos
		}
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range infos {
		if _, ok := s.info[in.TargetID]; ok {
			s.info[in.TargetID] = *in
		}
	}
	return nil
}

// Tabs lists the open tabs in order, titles and URLs as the browser last
// reported them.
func (s *Session) Tabs() []TabInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TabInfo, len(s.tabs))
	for i, t := range s.tabs {
		in := s.info[t.id]
		out[i] = TabInfo{Title: in.Title, URL: in.URL, Active: i == s.active}
	}
	return out
}

// Focus makes tab i (0-based, as Tabs lists them) the active one.
func (s *Session) Focus(ctx context.Context, i int) error {
	s.mu.Lock()
	n := len(s.tabs)
	if i < 0 || i >= n {
		s.mu.Unlock()
		return actionErr(fmt.Sprintf("there is no tab %d; open tabs are 0..%d", i, n-1))
	}
	s.active = i
	t := s.tabs[i]
	s.mu.Unlock()
	return t.bringToFront(ctx)
}

// CloseActive closes the active tab and activates the one before it.
func (s *Session) CloseActive(ctx context.Context) error {
	s.mu.Lock()
	if len(s.tabs) <= 1 {
		s.mu.Unlock()
		return actionErr("tab_close: this is the only tab; an episode keeps one tab open")
	}
	t := s.tabs[s.active]
	s.mu.Unlock()
	_, err := s.closeTab(ctx, t)
	if err != nil {
		return err
	}
	return s.Active().bringToFront(ctx)
}

// closeTab closes t's page and removes it from the tabs.
func (s *Session) closeTab(ctx context.Context, t *Tab) (bool, error) {
	s.mu.Lock()
	idx := -1
	for i, x := range s.tabs {
		if x == t {
			idx = i
		}
	}
	if idx < 0 {
		s.mu.Unlock()
		return false, nil
	}
	s.tabs = append(s.tabs[:idx], s.tabs[idx+1:]...)
	if s.active >= idx && s.active > 0 {
		s.active--
	}
	s.mu.Unlock()
	err := s.m.proc.Call(ctx, s.bctx, s.gen, func(c context.Context) error {
		_, err := chromedp.CallBrowser(c, target.CloseTarget, target.CloseTargetParams{TargetID: t.id})
		return err
	})
	go t.cancel()
	return true, err
}

// OpenTab opens url in a new tab of the session and makes it active.
func (s *Session) OpenTab(ctx context.Context, url string) error {
	t, err := s.newTab(ctx, chromedp.WithExistingBrowserContext(s.id))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ownedBy[t.id] = true
	s.tabs = append(s.tabs, t)
	s.active = len(s.tabs) - 1
	s.mu.Unlock()
	if err := t.bringToFront(ctx); err != nil {
		return err
	}
	return t.Navigate(ctx, url)
}

// bringToFront makes the tab the visible one of its window, so it gets
// animation frames and unthrottled timers.
func (t *Tab) bringToFront(ctx context.Context) error {
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Call(c, page.BringToFront, cdp.Empty{})
		return err
	})
}
