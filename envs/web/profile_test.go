package web

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
)

// phases collects per-phase durations for TestProfilePhases.
type phases struct {
	names []string
	d     map[string][]time.Duration
}

func (p *phases) add(name string, d time.Duration) {
	if p.d == nil {
		p.d = map[string][]time.Duration{}
	}
	if _, ok := p.d[name]; !ok {
		p.names = append(p.names, name)
	}
	p.d[name] = append(p.d[name], d)
}

func (p *phases) String() string {
	var b strings.Builder
	for _, n := range p.names {
		s := slices.Clone(p.d[n])
		slices.Sort(s)
		q := func(f float64) float64 { return float64(s[int(f*float64(len(s)-1))].Microseconds()) / 1000 }
		fmt.Fprintf(&b, "  %-28s p50 %6.2f ms  p90 %6.2f ms  (n=%d)\n", n, q(0.5), q(0.9), len(s))
	}
	return b.String()
}

// TestProfilePhases times each phase of a reset and of a click step on
// web/click-checkboxes-v0, through the same browser calls the env makes.
// Run with WEBGYM_PROFILE=1 go test -run TestProfilePhases -v ./envs/web.
func TestProfilePhases(t *testing.T) {
	if os.Getenv("WEBGYM_PROFILE") == "" {
		t.Skip("set WEBGYM_PROFILE=1 to profile reset and step phases")
	}
	e := rawEnv(makeEnv(t, "web/click-checkboxes-v0"))
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 0}); err != nil {
		t.Fatal(err)
	}
	tab := e.tab
	var rp, sp phases
	tm := func(p *phases, name string, f func() error) {
		t.Helper()
		t0 := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p.add(name, time.Since(t0))
	}
	for i := 0; i < 40; i++ {
		t0 := time.Now()
		ep, err := e.newEp(ctx, gym.ResetOptions{Seed: int64(i % 5)})
		if err != nil {
			t.Fatal(err)
		}
		e.ep = ep
		tm(&rp, "fresh context (prepared)", func() error {
			s, err := e.suite.session(ctx)
			if err == nil {
				go e.sess.Close()
				e.sess, e.tab, tab = s, s.Active(), s.Active()
				s.SetHosts(ep.hosts())
			}
			return err
		})
		tm(&rp, "open (nav+settle+observe)", func() error {
			p, err := tab.Open(ctx, ep.startURL(), e.maxObs)
			e.setPage(p)
			return err
		})
		tm(&rp, "render text", func() error { _, err := e.observation(ctx, nil); return err })
		rp.add("TOTAL reset", time.Since(t0))
		// For comparison, the reset before fresh contexts: the same page
		// opened again in the tab that already shows it.
		tm(&rp, "open again in the same context (old reset)", func() error {
			p, err := tab.Open(ctx, ep.startURL(), e.maxObs)
			e.setPage(p)
			return err
		})
		t1 := time.Now()
		_, err = e.Reset(ctx, gym.ResetOptions{Seed: int64(i % 5)})
		if err != nil {
			t.Fatal(err)
		}
		rp.add("TOTAL env.Reset", time.Since(t1))
	}
	t.Logf("reset phases:\n%s", &rp)
	tab = e.tab

	var id int
	for _, n := range e.page.Nodes {
		if n.Role == "checkbox" {
			id = n.ID
			break
		}
	}
	for i := 0; i < 60; i++ {
		t0 := time.Now()
		tm(&sp, "click (locate+3 mouse)", func() error { return tab.Click(ctx, id) })
		tm(&sp, "settle+observe", func() error { return e.settleObserve(ctx) })
		tm(&sp, "judge+render", func() error {
			if _, err := e.ep.judge(ctx, tab, &e.page, nil); err != nil {
				return err
			}
			_, err := e.observation(ctx, nil)
			return err
		})
		sp.add("TOTAL step", time.Since(t0))
		t1 := time.Now()
		r, err := e.Step(ctx, fmt.Sprintf("click(%d)", id))
		if err != nil || r.Status != gym.StatusOK {
			t.Fatal(err, r.Status)
		}
		sp.add("TOTAL env.Step", time.Since(t1))
		t2 := time.Now()
		if _, err := browser.Eval[int](ctx, tab, "1"); err != nil {
			t.Fatal(err)
		}
		sp.add("bare Runtime.evaluate", time.Since(t2))
	}
	t.Logf("step phases:\n%s", &sp)
}
