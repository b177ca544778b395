package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Session is one episode's browser context: its own cookies, storage of
// every kind, HTTP cache, service workers, permissions and window names,
// its tabs (the pages it opened included) and its network policy. A new
// episode takes a new Session; nothing of an old one is visible to it.
// A Session is used from one goroutine (the env's), except that protocol
// events update what it knows of its tabs.
type Session struct {
	m     *Manager
	gen   uint64
	bctx  context.Context // the browser's chromedp context
	id    cdp.BrowserContextID
	proxy *policyProxy // nil: no policy (everything allowed)

	// Quiet and MaxSettle are given to each new tab (see Tab).
	Quiet, MaxSettle time.Duration

	stopListen context.CancelFunc

	mu      sync.Mutex
	info    map[target.ID]target.Info // the context's live pages
	opened  []target.ID               // pages the pages opened, not adopted yet
	tabs    []*Tab
	active  int
	closed  bool
	ownedBy map[target.ID]bool // pages we created (new_tab), not popups
	dl      downloads
	// clip is the episode's clipboard: Chromium's own is shared by every
	// context of the browser (page.js clip).
	clip string
}

func (s *Session) clipText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clip
}

func (s *Session) setClip(text string) {
	s.mu.Lock()
	s.clip = text
	s.mu.Unlock()
}

// SessionOptions configure a new Session.
type SessionOptions struct {
	// Policy turns on the network policy (Session.SetHosts): every
	// request of the context goes through a proxy that forwards only to
	// allowed hosts. Off, the context reaches whatever the machine does.
	Policy bool
}

// NewSession creates a browser context with one blank tab, starting
// Chromium when needed. A Session with a policy allows nothing until
// SetHosts.
func (m *Manager) NewSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	bctx, gen, err := m.proc.Start(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{m: m, gen: gen, bctx: bctx, Quiet: DefaultQuiet, MaxSettle: 3 * time.Second,
		info: map[target.ID]target.Info{}, ownedBy: map[target.ID]bool{}}
	params := target.CreateBrowserContextParams{}
	if opts.Policy {
		if s.proxy, err = startProxy(); err != nil {
			return nil, err
		}
		// Chromium never proxies loopback unless told to: <-loopback>
		// puts local servers under the policy too.
		params.ProxyServer, params.ProxyBypassList = s.proxy.addr(), "<-loopback>"
	}
	err = m.proc.Call(ctx, bctx, gen, func(c context.Context) error {
		res, err := chromedp.CallBrowser(c, target.CreateBrowserContext, params)
		if err != nil {
			return err
		}
		s.id = res.BrowserContextID
		return s.allowDownloads(c)
	})
	if err != nil {
		s.closeProxy()
		return nil, fmt.Errorf("browser: new context: %w", err)
	}
	lctx, stop := context.WithCancel(bctx)
	s.stopListen = stop
	if err := chromedp.ListenBrowser(lctx, func(ev any) { s.listen(ev); s.listenDownload(ev) }); err != nil {
		s.Close()
		return nil, err
	}
	t, err := s.newTab(ctx, chromedp.WithExistingBrowserContext(s.id))
	if err != nil {
		s.Close()
		return nil, err
	}
	s.mu.Lock()
	s.ownedBy[t.id] = true
	s.tabs = []*Tab{t}
	s.mu.Unlock()
	return s, nil
}

// NewTab opens a tab in a fresh browser context with no network policy,
// starting Chromium when needed. Closing the tab closes its context.
func (m *Manager) NewTab(ctx context.Context) (*Tab, error) {
	s, err := m.NewSession(ctx, SessionOptions{})
	if err != nil {
		return nil, err
	}
	return s.Active(), nil
}

// listen follows the context's page targets from browser events.
func (s *Session) listen(ev any) {
	var info *target.Info
	switch e := ev.(type) {
	case *target.EventTargetCreated:
		info = e.TargetInfo
	case *target.EventTargetInfoChanged:
		info = e.TargetInfo
	case *target.EventTargetDestroyed:
		s.mu.Lock()
		delete(s.info, e.TargetID)
		s.mu.Unlock()
		return
	default:
		return
	}
	if info.Type != "page" || info.BrowserContextID != s.id {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known := s.info[info.TargetID]
	s.info[info.TargetID] = *info
	if !known && !s.ownedBy[info.TargetID] && !s.hasTabLocked(info.TargetID) {
		s.opened = append(s.opened, info.TargetID)
	}
}

func (s *Session) hasTabLocked(id target.ID) bool {
	for _, t := range s.tabs {
		if t.id == id {
			return true
		}
	}
	return false
}

// Active is the tab actions and observations apply to.
func (s *Session) Active() *Tab {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tabs) == 0 {
		return nil
	}
	return s.tabs[s.active]
}

// Alive reports whether the session's browser still runs.
func (s *Session) Alive() bool { return s.m.Alive(s.gen) }

// SetHosts sets the network policy of a session made with Policy.
func (s *Session) SetHosts(h Hosts) {
	if s.proxy != nil {
		s.proxy.setHosts(h)
	}
}

// Grant grants the named permissions (Permissions API names, e.g.
// "geolocation") to origin's pages in this context only.
func (s *Session) Grant(ctx context.Context, origin string, names []string) error {
	return s.m.proc.Call(ctx, s.bctx, s.gen, func(c context.Context) error {
		for _, n := range names {
			_, err := chromedp.CallBrowser(c, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: n}, Setting: browser.PermissionSettingGranted,
				Origin: origin, BrowserContextID: s.id,
			})
			if err != nil {
				return fmt.Errorf("browser: grant %s to %s: %w", n, origin, err)
			}
		}
		return nil
	})
}

// TakeBlocked lists the requests the policy refused since the last call,
// as "METHOD URL" (or "CONNECT host:port" for https and WebSockets).
func (s *Session) TakeBlocked() []string {
	if s.proxy == nil {
		return nil
	}
	return s.proxy.takeBlocked()
}

// Close disposes the browser context (its tabs with it) and stops the
// proxy. It does not wait for Chromium to tear the pages down.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tabs := s.tabs
	s.tabs = nil
	s.mu.Unlock()
	if s.stopListen != nil {
		s.stopListen()
	}
	var err error
	if s.id != "" && s.m.Alive(s.gen) {
		c, cancel := context.WithTimeout(s.bctx, 5*time.Second)
		_, err = chromedp.CallBrowser(c, target.DisposeBrowserContext, target.DisposeBrowserContextParams{BrowserContextID: s.id})
		cancel()
		if err != nil {
			err = fmt.Errorf("browser: dispose context: %w", err)
		}
	}
	for _, t := range tabs {
		go t.cancel() // waits for the target to go; it went with the context
	}
	if s.dl.dir != "" {
		err = errors.Join(err, os.RemoveAll(s.dl.dir))
	}
	return errors.Join(err, s.closeProxy())
}

func (s *Session) closeProxy() error {
	if s.proxy == nil {
		return nil
	}
	return s.proxy.close()
}
