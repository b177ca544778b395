package web

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
)

// sparePool keeps a few browser contexts made ahead of time, shared by
// the suite's envs: a reset takes a fresh context without waiting for
// Chromium to make one (~110-170 ms here, most of it the new page's
// renderer), and the pool refills in the background. Sharing bounds the
// cost to a few idle contexts whatever the number of envs.
//
// Making a context and disposing of an old one cost Chromium more CPU than
// the reset's own page load: run alongside a reset they slowed it several
// times over. So both wait while a reset loads its page (see beginReset),
// for at most maxDefer, so that envs resetting back to back still refill.
type sparePool struct {
	make func(ctx context.Context) (*browser.Session, error)
	size int

	mu       sync.Mutex
	ready    []*browser.Session
	inflight int
	epoch    int // bumped by drain: sessions of an earlier epoch are closed when made
	users    int // live envs; the pool empties when the last one closes
	closed   bool
	resets   int           // resets loading their first page
	idle     chan struct{} // closed when resets drops to 0
	deferred int           // old sessions waiting for resets to close

	// Contexts showing a preloader's page (next.go), oldest first.
	loaded     []loaded
	loading    int
	loadingURL map[string]int
}

// maxDefer bounds how long background context work waits for resets.
const maxDefer = 2 * time.Second

// beginReset marks a reset loading its page; the returned func ends it.
func (p *sparePool) beginReset() func() {
	p.mu.Lock()
	if p.resets == 0 {
		p.idle = make(chan struct{})
	}
	p.resets++
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.resets--
			if p.resets == 0 {
				close(p.idle)
			}
			p.mu.Unlock()
		})
	}
}

// waitResets waits until no reset is loading its page, at most maxDefer.
func (p *sparePool) waitResets() {
	p.mu.Lock()
	var idle chan struct{}
	if p.resets > 0 {
		idle = p.idle
	}
	p.mu.Unlock()
	if idle == nil {
		return
	}
	t := time.NewTimer(maxDefer)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// maxDeferredClose bounds the old sessions waiting to close, so envs that
// reset back to back keep no more than that many extra contexts alive.
const maxDeferredClose = 2

// dispose closes an old episode's session once no reset is loading (at
// once when maxDeferredClose are already waiting).
func (p *sparePool) dispose(s *browser.Session) {
	p.mu.Lock()
	wait := p.deferred < maxDeferredClose
	if wait {
		p.deferred++
	}
	p.mu.Unlock()
	go func() {
		if wait {
			p.waitResets()
			p.mu.Lock()
			p.deferred--
			p.mu.Unlock()
		}
		s.Close()
	}()
}

// acquire and release count the live envs: with none, the pool keeps
// nothing (a closed env leaves no browser context or proxy behind).
func (p *sparePool) acquire() {
	p.mu.Lock()
	p.users++
	p.mu.Unlock()
}

func (p *sparePool) release() {
	p.mu.Lock()
	p.users--
	var ready []*browser.Session
	if p.users <= 0 {
		p.users = 0
		ready, p.ready = p.ready, nil
		for _, l := range p.loaded {
			ready = append(ready, l.sess)
		}
		p.loaded = nil
		p.epoch++
	}
	p.mu.Unlock()
	for _, s := range ready {
		s.Close()
	}
}

// take returns a ready session of a live browser, or nil, and starts
// refilling.
func (p *sparePool) take() *browser.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.refillLocked()
	for len(p.ready) > 0 {
		s := p.ready[0]
		p.ready = p.ready[1:]
		if s.Alive() {
			return s
		}
		go s.Close()
	}
	return nil
}

// refillLocked starts making sessions until the pool will be full.
func (p *sparePool) refillLocked() {
	for !p.closed && p.users > 0 && len(p.ready)+p.inflight < p.size {
		p.inflight++
		epoch := p.epoch
		go func() {
			p.waitResets()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := p.make(ctx)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.inflight--
			switch {
			case err != nil:
				// The next take makes its own and says why; refilling
				// again here could spin on a dead browser.
			case p.closed || epoch != p.epoch:
				go s.Close()
			default:
				p.ready = append(p.ready, s)
			}
		}()
	}
}

// close closes the ready sessions and stops refilling.
func (p *sparePool) close() {
	p.mu.Lock()
	ready := p.ready
	for _, l := range p.loaded {
		ready = append(ready, l.sess)
	}
	p.ready, p.loaded, p.closed = nil, nil, true
	p.mu.Unlock()
	for _, s := range ready {
		s.Close()
	}
}

// newEnv makes an env instance; it counts as a user of the spare pool
// until Close.
func (s *Suite) newEnv(spec gym.Spec, newEp episodeFunc) *env {
	s.spares.acquire()
	return &env{suite: s, spec: spec, newEp: newEp, maxObs: s.opts.MaxObsNodes}
}

// session returns a fresh browser context for an episode: a spare when
// one is ready, else a new one.
func (s *Suite) session(ctx context.Context) (*browser.Session, error) {
	if sess := s.spares.take(); sess != nil {
		return sess, nil
	}
	return s.newSession(ctx)
}

// newSession makes a browser context under a network policy that allows
// nothing until the episode names its hosts.
func (s *Suite) newSession(ctx context.Context) (*browser.Session, error) {
	sess, err := s.mgr.NewSession(ctx, browser.SessionOptions{Policy: true})
	if err != nil {
		return nil, err
	}
	sess.Quiet, sess.MaxSettle = s.opts.Quiet, s.opts.MaxSettle
	if t := sess.Active(); t != nil {
		t.Quiet, t.MaxSettle = s.opts.Quiet, s.opts.MaxSettle
	}
	return sess, nil
}

// originHosts is the policy of a site served from origin (scheme://host:port).
func originHosts(origin string) browser.Hosts {
	u, err := url.Parse(origin)
	if err != nil {
		return browser.Hosts{}
	}
	return browser.Hosts{u.Host}
}
