package phone

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/envgym/envgym/envs/internal/chromium"
)

// ErrCrashed is wrapped by errors caused by Chromium dying.
var ErrCrashed = chromium.ErrCrashed

// Browser is one headless Chromium (envs/internal/chromium) shared by the
// phone instances of a Suite, with reference counting: it starts with the
// first tab and stops when the last tab closes, so no process outlives
// the envs.
type Browser struct {
	execPath string

	once sync.Once
	proc *chromium.Process

	mu   sync.Mutex
	refs int
}

func (b *Browser) process() *chromium.Process {
	b.once.Do(func() {
		b.proc = chromium.New(chromium.Options{
			ExecPath: b.execPath, Width: Width, Height: Height, DataDirPrefix: "envgym-phone-",
			Flags: []chromedp.ExecAllocatorOption{
				chromedp.Flag("font-render-hinting", "none"),
				// Frames on demand, not on a 60 Hz clock: a screenshot waits for
				// the next frame. `gym bench gui`, interleaved runs at load 20-24:
				// screenshot p50 35-37 -> 17-21 ms, reset 52-56 -> 39-48 ms, step
				// 54-60 ms either way. The phone app has no animations or timers,
				// so frames are only drawn when something changed (Chromium idles
				// at ~1 % CPU with a blinking caret).
				chromedp.Flag("disable-frame-rate-limit", true),
				chromedp.Flag("disable-gpu-vsync", true),
			},
		})
	})
	return b.proc
}

// PID is the browser's process id, 0 when it is not running.
func (b *Browser) PID() int { return b.process().PID() }

// Kill kills Chromium as a crash would. For tests.
func (b *Browser) Kill() error { return b.process().Kill() }

// tab is one phone screen: a page in its own browser context with the
// phone's metrics and touch emulation.
type tab struct {
	b      *Browser
	gen    uint64
	ctx    context.Context
	cancel context.CancelFunc
	closed bool
}

// newTab opens a tab, starting Chromium when needed; the tab holds a
// reference on the browser until it is closed.
func (b *Browser) newTab(ctx context.Context, scale float64) (*tab, error) {
	p := b.process()
	b.mu.Lock()
	bctx, gen, err := p.Start(ctx)
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("phone: %w", err)
	}
	b.refs++
	b.mu.Unlock()
	t := &tab{b: b, gen: gen}
	tctx, cancel, err := chromium.NewPage(ctx, bctx, chromedp.WithNewBrowserContext())
	if err == nil {
		t.ctx, t.cancel = tctx, cancel
		err = t.call(ctx, func(c context.Context) error {
			if _, err := chromedp.Call(c, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: Width, Height: Height, DeviceScaleFactor: scale, Mobile: true,
				ScreenWidth: Width, ScreenHeight: Height,
			}); err != nil {
				return fmt.Errorf("device metrics: %w", err)
			}
			if _, err := chromedp.Call(c, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5}); err != nil {
				return fmt.Errorf("touch emulation: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("phone: new tab: %w", err)
	}
	return t, nil
}

// Close closes the tab and drops its reference on the browser; the last
// reference stops Chromium.
func (t *tab) Close() {
	if t.closed {
		return
	}
	t.closed = true
	if t.cancel != nil {
		t.cancel()
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	t.b.refs--
	if t.b.refs <= 0 {
		t.b.refs = 0
		t.b.process().Stop()
	}
}

func (t *tab) alive() bool { return !t.closed && t.b.process().Alive(t.gen) }

// call runs f with a context bounded by ctx, the tab and
// chromium.CallTimeout, and marks failures of a dead browser with
// ErrCrashed.
func (t *tab) call(ctx context.Context, f func(c context.Context) error) error {
	if t.closed {
		return fmt.Errorf("%w (tab closed)", ErrCrashed)
	}
	return t.b.process().Call(ctx, t.ctx, t.gen, f)
}

func evalJS[T any](ctx context.Context, t *tab, expr string) (T, error) {
	var v T
	err := t.call(ctx, func(c context.Context) error {
		var err error
		v, err = chromedp.Run(c, chromedp.Evaluate[T](expr))
		return err
	})
	return v, err
}

func (t *tab) navigate(ctx context.Context, url string) error {
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Run(c, chromedp.Navigate(url))
		return err
	})
}

// touch sends one touch sequence through the points (CSS pixels); hold
// is how long the finger rests on the first point. The events carry
// explicit timestamps (a tap lasts 60 ms, a long press hold+60 ms) and the
// page times gestures by them, so a loaded machine cannot turn a tap into
// a long press, and a long press needs no real wait.
func (t *tab) touch(ctx context.Context, pts [][2]float64, hold time.Duration) error {
	t0 := time.Now()
	stamp := func(d time.Duration) input.TimeSinceEpoch {
		return input.TimeSinceEpoch(float64(t0.Add(d).UnixMicro()) / 1e6)
	}
	return t.call(ctx, func(c context.Context) error {
		ev := func(typ input.DispatchTouchEventType, p *[2]float64, at time.Duration) error {
			params := input.DispatchTouchEventParams{Type: typ, TouchPoints: []*input.TouchPoint{}, Timestamp: stamp(at)}
			if p != nil {
				params.TouchPoints = []*input.TouchPoint{{X: p[0], Y: p[1]}}
			}
			_, err := chromedp.Call(c, input.DispatchTouchEvent, params)
			return err
		}
		if err := ev(input.DispatchTouchEventTypeTouchStart, &pts[0], 0); err != nil {
			return err
		}
		at := hold
		for i := 1; i < len(pts); i++ {
			at += 10 * time.Millisecond
			if err := ev(input.DispatchTouchEventTypeTouchMove, &pts[i], at); err != nil {
				return err
			}
		}
		return ev(input.DispatchTouchEventTypeTouchEnd, nil, at+60*time.Millisecond)
	})
}

func (t *tab) insertText(ctx context.Context, text string) error {
	return t.call(ctx, func(c context.Context) error {
		_, err := chromedp.Call(c, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

func (t *tab) pressEnter(ctx context.Context) error {
	return t.call(ctx, func(c context.Context) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
			if _, err := chromedp.Call(c, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tab) screenshot(ctx context.Context) ([]byte, error) {
	var png []byte
	yes, no := true, false
	err := t.call(ctx, func(c context.Context) error {
		// PNG with Chromium's fast encoder, straight from the compositor
		// surface, viewport only.
		res, err := chromedp.Call(c, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng, OptimizeForSpeed: &yes, FromSurface: &yes, CaptureBeyondViewport: &no})
		if err != nil {
			return err
		}
		png = res.Data
		return nil
	})
	return png, err
}
