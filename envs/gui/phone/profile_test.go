package phone

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/envgym/envgym/gym"
)

// TestProfilePhases times the phases of a phone step (touch, state read,
// screenshot) and of a reset through the calls the env makes.
// Run with GUIGYM_PROFILE=1 go test -run TestProfilePhases -v ./envs/gui/phone.
func TestProfilePhases(t *testing.T) {
	if os.Getenv("GUIGYM_PROFILE") == "" {
		t.Skip("set GUIGYM_PROFILE=1 to profile phone step phases")
	}
	ctx := context.Background()
	e := newEnv(t, NewSuite(Options{}), nil)
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "settings-toggle"}); err != nil {
		t.Fatal(err)
	}
	d := map[string][]time.Duration{}
	var names []string
	tm := func(name string, f func() error) {
		t.Helper()
		t0 := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := d[name]; !ok {
			names = append(names, name)
		}
		d[name] = append(d[name], time.Since(t0))
	}
	// A tap on empty status-bar space: no app reacts, so every round
	// measures the same work.
	for range 25 {
		tm("touch (tap)", func() error { return e.tab.touch(ctx, [][2]float64{{200, 12}}, 0) })
		tm("bare evaluate", func() error { _, err := evalJS[int](ctx, e.tab, "1"); return err })
		tm("raf evaluate", func() error {
			return e.tab.call(ctx, func(c context.Context) error {
				_, err := chromedp.Run(c, chromedp.Evaluate[int]("new Promise(r => requestAnimationFrame(() => r(1)))", chromedp.EvalAwaitPromise))
				return err
			})
		})
		for _, v := range []struct {
			name       string
			format     page.CaptureScreenshotFormat
			surf, fast bool
		}{{"shot png surf fast", page.CaptureScreenshotFormatPng, true, true}, {"shot png nosurf fast", page.CaptureScreenshotFormatPng, false, true},
			{"shot png surf slow", page.CaptureScreenshotFormatPng, true, false}, {"shot jpeg surf", page.CaptureScreenshotFormatJpeg, true, true}} {
			tm(v.name, func() error {
				return e.tab.call(ctx, func(c context.Context) error {
					no := false
					_, err := chromedp.Call(c, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: v.format, OptimizeForSpeed: &v.fast, FromSurface: &v.surf, CaptureBeyondViewport: &no})
					return err
				})
			})
		}
		tm("state read", func() error {
			_, err := evalJS[readout](ctx, e.tab, "({state: phone.state, screen: phone.screen(), a11y: phone.a11y()})")
			return err
		})
		tm("screenshot", func() error { _, err := e.tab.screenshot(ctx); return err })
		tm("observe (read ∥ shot)", func() error { _, _, err := e.observe(ctx, ""); return err })
		tm("env.Step click", func() error {
			r, err := e.Step(ctx, `{"action_type":"click","x":200,"y":12}`)
			if err == nil && r.Status != gym.StatusOK {
				err = fmt.Errorf("status %s", r.Status)
			}
			return err
		})
		tm("env.Reset", func() error {
			_, err := e.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "settings-toggle"})
			return err
		})
	}
	var b strings.Builder
	for _, n := range names {
		s := slices.Clone(d[n])
		slices.Sort(s)
		q := func(f float64) float64 { return float64(s[int(f*float64(len(s)-1))].Microseconds()) / 1000 }
		fmt.Fprintf(&b, "  %-24s p50 %6.2f ms  p90 %6.2f ms\n", n, q(0.5), q(0.9))
	}
	t.Logf("phone phases:\n%s", &b)
}
