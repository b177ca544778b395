package phone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/envgym/envgym/envs/web/browser"
)

// ErrCrashed is wrapped by errors caused by Chromium dying.
var ErrCrashed = errors.New("phone: chromium crashed or was killed")

// callTimeout bounds one browser round trip.
const callTimeout = 10 * time.Second

// Browser is one headless Chromium shared by the phone instances of a
// Suite, with reference counting: it starts with the first tab and stops
// when the last tab closes, so no process outlives the envs.
type Browser struct {
	execPath string

	mu      sync.Mutex
	refs    int
	gen     uint64
	bctx    context.Context
	cancel  func()
	dataDir string
}

func (b *Browser) ensureLocked(ctx context.Context) error {
	if b.bctx != nil && b.aliveLocked() {
		return nil
	}
	b.stopLocked()
	path := b.execPath
	if path == "" {
		p, err := browser.FindChromium()
		if err != nil {
			return fmt.Errorf("phone: %w", err)
		}
		path = p
	}
	dir, err := os.MkdirTemp("", "envgym-phone-")
	if err != nil {
		return fmt.Errorf("phone: user data dir: %w", err)
	}
	allocCtx, alloc := chromedp.NewExecAllocator(context.Background(), append(browser.HeadlessFlags(path),
		chromedp.Flag("font-render-hinting", "none"),
		// Frames on demand, not on a 60 Hz clock: a screenshot waits for
		// the next frame. `gym bench gui`, interleaved runs at load 20-24:
		// screenshot p50 35-37 -> 17-21 ms, reset 52-56 -> 39-48 ms, step
		// 54-60 ms either way. The phone app has no animations or timers,
		// so frames are only drawn when something changed (Chromium idles
		// at ~1 % CPU with a blinking caret).
		chromedp.Flag("disable-frame-rate-limit", true),
		chromedp.Flag("disable-gpu-vsync", true),
		chromedp.WindowSize(Width, Height),
		chromedp.UserDataDir(dir),
	)...)
	bctx, bcancel := chromedp.NewContext(allocCtx)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err = <-started:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		bcancel()
		alloc()
		os.RemoveAll(dir)
		return fmt.Errorf("phone: start chromium %s: %w", path, err)
	}
	b.gen++
	b.bctx, b.dataDir = bctx, dir
	b.cancel = func() { bcancel(); alloc() }
	return nil
}

func (b *Browser) aliveLocked() bool {
	if b.bctx == nil || b.bctx.Err() != nil {
		return false
	}
	c := chromedp.FromContext(b.bctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return false
	}
	return pidAlive(c.Browser.Process().Pid)
}

// pidAlive reports whether pid runs and is not a zombie.
func pidAlive(pid int) bool {
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(st), ')')
	return !(i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X'))
}

func (b *Browser) stopLocked() {
	if b.cancel != nil {
		b.cancel()
	}
	if b.dataDir != "" {
		os.RemoveAll(b.dataDir)
	}
	b.bctx, b.cancel, b.dataDir = nil, nil, ""
}

// PID is the browser's process id, 0 when it is not running.
func (b *Browser) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.aliveLocked() {
		return 0
	}
	return chromedp.FromContext(b.bctx).Browser.Process().Pid
}

// Kill kills Chromium as a crash would. For tests.
func (b *Browser) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.aliveLocked() {
		return errors.New("phone: chromium is not running")
	}
	return chromedp.FromContext(b.bctx).Browser.Process().Kill()
}

func (b *Browser) alive(gen uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return gen == b.gen && b.aliveLocked()
}

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
	b.mu.Lock()
	if err := b.ensureLocked(ctx); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	b.refs++
	bctx, gen := b.bctx, b.gen
	b.mu.Unlock()
	tctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t := &tab{b: b, gen: gen, ctx: tctx, cancel: cancel}
	created := make(chan error, 1)
	go func() { created <- chromedp.Do(tctx) }()
	var err error
	select {
	case err = <-created:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		err = t.call(ctx, func(c context.Context) error {
			for _, m := range []string{"CSS.disable", "DOM.disable", "Network.disable", "Log.disable"} {
				if err := chromedp.FromContext(c).Target.Call(c, m, nil, nil); err != nil {
					return fmt.Errorf("%s: %w", m, err)
				}
			}
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
	t.cancel()
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	t.b.refs--
	if t.b.refs <= 0 {
		t.b.refs = 0
		t.b.stopLocked()
	}
}

func (t *tab) alive() bool { return !t.closed && t.b.alive(t.gen) }

// call runs f with a context bounded by ctx, the tab and callTimeout, and
// marks failures of a dead browser with ErrCrashed.
func (t *tab) call(ctx context.Context, f func(c context.Context) error) error {
	if !t.alive() {
		return fmt.Errorf("%w (tab of an earlier browser)", ErrCrashed)
	}
	c, cancel := context.WithTimeout(t.ctx, callTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err := f(c)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if err != nil && !t.b.alive(t.gen) {
		return fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	return err
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
