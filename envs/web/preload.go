package web

import (
	"context"
	"time"

	"github.com/envgym/envgym/envs/web/browser"
)

// preloader is implemented by episodes whose start page does not depend
// on the seed (the built-in task pages): the suite loads that page ahead
// in a fresh context, and the episode applies its seed to the loaded page
// at reset. Such a reset costs no navigation. Preloader episodes grant no
// permissions (a grant must precede the load).
type preloader interface {
	preloadURL() string
	// begin turns the loaded page into the episode's start page.
	begin(ctx context.Context, tab *browser.Tab) error
}

// loaded is a fresh context showing a preloader's page, never used by an
// episode.
type loaded struct {
	url  string
	sess *browser.Session
}

// takeLoaded returns a ready context showing url, or nil.
func (p *sparePool) takeLoaded(url string) *browser.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, l := range p.loaded {
		if l.url != url {
			continue
		}
		p.loaded = append(p.loaded[:i:i], p.loaded[i+1:]...)
		if l.sess.Alive() {
			return l.sess
		}
		go l.sess.Close()
		return nil
	}
	return nil
}

// preload keeps contexts showing url ready for the next resets: up to
// size of them, loaded and in flight, across the suite's pages. With the
// pool full of other pages, the oldest ready one makes way, so memory
// stays bounded whatever the number of envs and tasks.
func (p *sparePool) preload(url string, hosts browser.Hosts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.users <= 0 || p.size <= 0 {
		return
	}
	mine := p.loadingURL[url]
	for _, l := range p.loaded {
		if l.url == url {
			mine++
		}
	}
	total := len(p.loaded) + p.loading
	if total >= p.size && mine == 0 && len(p.loaded) > 0 {
		old := p.loaded[0]
		p.loaded = p.loaded[1:]
		go old.sess.Close()
		total--
	}
	for ; total < p.size; total++ {
		p.loading++
		p.loadingURL[url]++
		epoch := p.epoch
		go func() {
			s, err := p.load(url, hosts)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.loading--
			p.loadingURL[url]--
			switch {
			case err != nil:
				// The reset loads the page itself and says what fails.
			case p.closed || epoch != p.epoch:
				go s.Close()
			default:
				p.loaded = append(p.loaded, loaded{url: url, sess: s})
			}
		}()
	}
}

// load makes a context showing url once no reset is loading its page. A
// blank spare is a fresh context made ahead: only the page load is left.
func (p *sparePool) load(url string, hosts browser.Hosts) (*browser.Session, error) {
	p.waitResets()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := p.take()
	if s == nil {
		var err error
		if s, err = p.make(ctx); err != nil {
			return nil, err
		}
	}
	s.SetHosts(hosts)
	if err := s.Active().Preload(ctx, url); err != nil {
		s.Close()
		return nil, err
	}
	s.TakeBlocked() // the episode's lists start at its reset
	s.TakeDownloads()
	return s, nil
}
