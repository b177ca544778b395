// Package chromium owns the lifecycle of one headless Chromium process
// shared by the envs of a plugin (web, gui/phone): finding the binary, the
// launch flags, starting it lazily, telling a live browser from a dead one,
// restarting it after a crash, and bounding every round trip to it.
package chromium

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

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// ErrCrashed is wrapped by errors caused by the browser process dying.
var ErrCrashed = errors.New("chromium crashed or was killed")

// ErrNoChromium means no Chromium binary was found.
var ErrNoChromium = errors.New("chromium not found (apt-get install chromium-headless-shell, or chromium)")

// CallTimeout bounds one browser round trip, so a hung renderer becomes a
// TIMEOUT instead of a stuck env.
const CallTimeout = 10 * time.Second

// Options configure a Process. The zero value finds Chromium itself.
type Options struct {
	ExecPath string // the real binary; default: FindChromium
	Width    int    // window size; default 1024
	Height   int    // default 768
	// Flags are added to HeadlessFlags (e.g. the phone's frame-rate flags).
	Flags []chromedp.ExecAllocatorOption
	// DataDirPrefix names the temporary profile dir; default "envgym-chromium-".
	DataDirPrefix string
	// NoSandbox keeps Chromium's own sandbox off even where it works.
	NoSandbox bool
	Logf      func(format string, args ...any)
}

// Process is one Chromium process, started on the first Start and started
// again by a Start after it died. Each start is a new generation: handles
// made under an older one are dead. It is safe for concurrent use.
type Process struct {
	opts Options
	wire wire

	mu      sync.Mutex
	gen     uint64
	bctx    context.Context // chromedp context holding the browser
	cancel  func()
	dataDir string
	version string
	sandbox Sandbox
	closed  bool
}

// New returns a process handle; nothing starts before Start.
func New(opts Options) *Process {
	if opts.Width == 0 {
		opts.Width, opts.Height = 1024, 768
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.DataDirPrefix == "" {
		opts.DataDirPrefix = "envgym-chromium-"
	}
	return &Process{opts: opts}
}

// Start starts Chromium unless it runs, and returns the chromedp context
// of the browser and its generation. ctx bounds only the wait for the
// start: the browser lives until Stop or Close.
func (p *Process) Start(ctx context.Context) (context.Context, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, 0, errors.New("chromium: closed")
	}
	if p.bctx != nil && p.aliveLocked() {
		return p.bctx, p.gen, nil
	}
	p.stopLocked()
	path := p.opts.ExecPath
	if path == "" {
		var err error
		if path, err = FindChromium(); err != nil {
			return nil, 0, err
		}
	}
	sb := DetectSandbox()
	if p.opts.NoSandbox {
		sb = Sandbox{Why: "turned off by the caller"}
	}
	bctx, cancel, dir, err := p.launch(ctx, path, sb.On)
	if err != nil && sb.On && ctx.Err() == nil {
		// The probe passed but Chromium's own checks did not: run without
		// its sandbox rather than not at all, and say why.
		sb = Sandbox{Why: "Chromium failed to start with it: " + err.Error()}
		bctx, cancel, dir, err = p.launch(ctx, path, false)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("chromium: start %s: %w", path, err)
	}
	p.opts.Logf("chromium: own sandbox %s", sb)
	if v, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{}); err == nil {
		p.version = v.Product[strings.LastIndexByte(v.Product, '/')+1:]
	}
	p.gen++
	p.bctx, p.dataDir, p.cancel, p.sandbox = bctx, dir, cancel, sb
	return bctx, p.gen, nil
}

// launch starts one Chromium process in a new profile dir.
func (p *Process) launch(ctx context.Context, path string, sandbox bool) (context.Context, func(), string, error) {
	dir, err := os.MkdirTemp("", p.opts.DataDirPrefix)
	if err != nil {
		return nil, nil, "", fmt.Errorf("user data dir: %w", err)
	}
	flags := append(HeadlessFlags(path), p.opts.Flags...)
	flags = append(flags, chromedp.WindowSize(p.opts.Width, p.opts.Height), chromedp.UserDataDir(dir))
	if sandbox {
		flags = append(flags, chromedp.Flag("no-sandbox", false))
	}
	allocCtx, alloc := chromedp.NewExecAllocator(context.Background(), flags...)
	bctx, bcancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(p.opts.Logf), chromedp.WithErrorf(p.opts.Logf), chromedp.WithDebugf(p.wire.debugf))
	// The first Do binds the browser's life to bctx, which the process
	// owns; the caller's ctx only bounds how long we wait for the start.
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
		return nil, nil, "", err
	}
	return bctx, func() { bcancel(); alloc() }, dir, nil
}

// Sandbox says whether the running browser has its own sandbox, and why
// not; the zero value before the first start.
func (p *Process) Sandbox() Sandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sandbox
}

func (p *Process) aliveLocked() bool {
	if p.bctx == nil || p.bctx.Err() != nil {
		return false
	}
	c := chromedp.FromContext(p.bctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return false
	}
	return PIDAlive(c.Browser.Process().Pid)
}

// PIDAlive reports whether pid runs and is not a zombie.
func PIDAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return !(i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X'))
}

// DataDir is the profile folder of the browser of generation gen (removed
// when that browser stops), or "" when another generation runs.
func (p *Process) DataDir(gen uint64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return ""
	}
	return p.dataDir
}

// Alive reports whether the browser of generation gen still runs.
func (p *Process) Alive(gen uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return gen == p.gen && p.aliveLocked()
}

func (p *Process) stopLocked() {
	if p.cancel != nil {
		p.cancel()
	}
	if p.dataDir != "" {
		os.RemoveAll(p.dataDir)
	}
	p.bctx, p.cancel, p.dataDir = nil, nil, ""
}

// Stop stops the browser; a later Start launches a new one.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

// Close stops the browser for good.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.stopLocked()
	return nil
}

// Version is the running Chromium's version, e.g. "156.0.8078.108"; empty
// before the first start.
func (p *Process) Version() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// PID is the browser process id, 0 when it is not running.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.aliveLocked() {
		return 0
	}
	return chromedp.FromContext(p.bctx).Browser.Process().Pid
}

// Kill kills the browser process, as a crash would. For tests and chaos.
func (p *Process) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.aliveLocked() {
		return errors.New("chromium: not running")
	}
	return chromedp.FromContext(p.bctx).Browser.Process().Kill()
}

// Call runs f with a context that ends with ctx, with tctx (a page's
// chromedp context) or after CallTimeout. A failure while the browser of
// generation gen is dead wraps ErrCrashed; a cancelled ctx is named first.
func (p *Process) Call(ctx, tctx context.Context, gen uint64, f func(c context.Context) error) error {
	if !p.Alive(gen) {
		return fmt.Errorf("%w (a page of an earlier browser)", ErrCrashed)
	}
	c, cancel := context.WithTimeout(tctx, CallTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err := f(c)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if err != nil && !errors.Is(err, ErrCrashed) && !p.Alive(gen) {
		return fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	return err
}

// NewPage opens a page target under parent (a browser context or a page
// of the same browser) and waits, bounded by ctx, until it is attached.
// The page lives until the returned cancel. chromedp's own DOM, CSS,
// Network and Log domains are switched off: the gym observes through its
// own scripts, and those domains' events cost ~40% of a navigation.
func NewPage(ctx, parent context.Context, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc, error) {
	tctx, cancel := chromedp.NewContext(parent, opts...)
	// The first Do creates the target and binds it to tctx (no deadline
	// on it, see chromedp.NewContext); ctx bounds only our wait.
	created := make(chan error, 1)
	go func() { created <- chromedp.Do(tctx) }()
	var err error
	select {
	case err = <-created:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		c, ccancel := context.WithTimeout(tctx, CallTimeout)
		for _, m := range []string{"CSS.disable", "DOM.disable", "Network.disable", "Log.disable"} {
			if err = chromedp.FromContext(c).Target.Call(c, m, nil, nil); err != nil {
				err = fmt.Errorf("%s: %w", m, err)
				break
			}
		}
		ccancel()
	}
	if err != nil {
		go cancel() // closing a half-made target waits on the browser
		return nil, nil, fmt.Errorf("chromium: new page: %w", err)
	}
	return tctx, cancel, nil
}
