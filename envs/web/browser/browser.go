// Package browser drives one shared headless Chromium through chromedp: a
// Manager owns the process (started lazily, relaunched after a crash) and
// hands out Tabs, each in its own browser context so cookies and storage
// never leak between env instances.
package browser

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

//go:embed page.js
var pageJS string

// ErrCrashed is wrapped by errors caused by the browser process dying.
var ErrCrashed = errors.New("browser: chromium crashed or was killed")

// ErrNoChromium means no Chromium binary was found.
var ErrNoChromium = errors.New("browser: chromium not found (apt-get install chromium)")

// Options configure a Manager. The zero value finds Chromium itself.
type Options struct {
	ExecPath string // the real binary; default: the Debian package's /usr/lib/chromium/chromium
	Width    int    // viewport; default 1024
	Height   int    // default 768
	Logf     func(format string, args ...any)
}

// Manager owns one Chromium process shared by all tabs of this process.
// It is safe for concurrent use.
type Manager struct {
	opts Options

	mu      sync.Mutex
	gen     uint64 // bumped on every launch; tabs of an older gen are dead
	alloc   context.CancelFunc
	bctx    context.Context // chromedp context holding the browser
	bcancel context.CancelFunc
	dataDir string
	version string
	closed  bool
}

// NewManager returns a manager; Chromium starts on the first NewTab.
func NewManager(opts Options) *Manager {
	if opts.Width == 0 {
		opts.Width, opts.Height = 1024, 768
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &Manager{opts: opts}
}

// FindChromium returns the path of the real Chromium binary. The Debian
// `chromium` on PATH is a wrapper script that misbehaves under chromedp.
func FindChromium() (string, error) {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser", "/opt/google/chrome/chrome"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// ensure starts Chromium when it is not running and returns the browser
// context and its generation.
func (m *Manager) ensure(ctx context.Context) (context.Context, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, 0, errors.New("browser: manager is closed")
	}
	if m.bctx != nil && m.aliveLocked() {
		return m.bctx, m.gen, nil
	}
	m.stopLocked()
	path := m.opts.ExecPath
	if path == "" {
		var err error
		if path, err = FindChromium(); err != nil {
			return nil, 0, err
		}
	}
	dir, err := os.MkdirTemp("", "envgym-chromium-")
	if err != nil {
		return nil, 0, fmt.Errorf("browser: user data dir: %w", err)
	}
	allocCtx, alloc := chromedp.NewExecAllocator(context.Background(), append(HeadlessFlags(path),
		chromedp.WindowSize(m.opts.Width, m.opts.Height),
		chromedp.UserDataDir(dir),
	)...)
	bctx, bcancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(m.opts.Logf), chromedp.WithErrorf(m.opts.Logf))
	// The first Run binds the browser's life to bctx, which the manager
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
		return nil, 0, fmt.Errorf("browser: start chromium %s: %w", path, err)
	}
	v, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{})
	if err == nil {
		m.version = v.Product[strings.LastIndexByte(v.Product, '/')+1:]
	}
	m.gen++
	m.bctx, m.bcancel, m.alloc, m.dataDir = bctx, bcancel, alloc, dir
	return bctx, m.gen, nil
}

func (m *Manager) aliveLocked() bool {
	if m.bctx == nil || m.bctx.Err() != nil {
		return false
	}
	c := chromedp.FromContext(m.bctx)
	if c == nil || c.Browser == nil {
		return false
	}
	p := c.Browser.Process()
	if p == nil {
		return false
	}
	// A zombie or vanished pid means the browser died.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "stat"))
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
		return false
	}
	return true
}

// Alive reports whether the browser of generation gen still runs.
func (m *Manager) Alive(gen uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return gen == m.gen && m.aliveLocked()
}

func (m *Manager) stopLocked() {
	if m.bcancel != nil {
		m.bcancel()
		m.alloc()
	}
	if m.dataDir != "" {
		os.RemoveAll(m.dataDir)
	}
	m.bctx, m.bcancel, m.alloc, m.dataDir = nil, nil, nil, ""
}

// Version is the Chromium version, e.g. "156.0.8078.108"; empty before the
// first start.
func (m *Manager) Version() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

// ProbeVersion returns the version by asking the binary, without starting
// a browser session. It is for specs, which are built before any env runs.
func ProbeVersion(ctx context.Context, execPath string) (string, error) {
	if execPath == "" {
		p, err := FindChromium()
		if err != nil {
			return "", err
		}
		execPath = p
	}
	out, err := exec.CommandContext(ctx, execPath, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("browser: %s --version: %w", execPath, err)
	}
	f := strings.Fields(string(out))
	for _, w := range f {
		if len(w) > 0 && w[0] >= '0' && w[0] <= '9' && strings.Contains(w, ".") {
			return w, nil
		}
	}
	return strings.TrimSpace(string(out)), nil
}

// PID is the browser process id, 0 when it is not running.
func (m *Manager) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.aliveLocked() {
		return 0
	}
	return chromedp.FromContext(m.bctx).Browser.Process().Pid
}

// Kill kills the browser process, as a crash would. For tests.
func (m *Manager) Kill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bctx == nil {
		return errors.New("browser: not running")
	}
	return chromedp.FromContext(m.bctx).Browser.Process().Kill()
}

// Close stops the browser. Tabs stop working.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.stopLocked()
	return nil
}

// Stats counts what the browser holds, for leak checks.
type Stats struct {
	Targets         int     `json:"targets"`          // page targets (tabs)
	BrowserContexts int     `json:"browser_contexts"` // isolated contexts
	Processes       int     `json:"processes"`        // chromium processes (browser and children)
	RSSMiB          float64 `json:"rss_mib"`          // their memory (PSS)
}

// Stats reports the browser's tabs, contexts, processes and memory.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	bctx, _, err := m.ensure(ctx)
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	ts, err := chromedp.CallBrowser(bctx, target.GetTargets, target.GetTargetsParams{})
	if err != nil {
		return s, fmt.Errorf("browser: targets: %w", err)
	}
	for _, t := range ts.TargetInfos {
		if t.Type == "page" {
			s.Targets++
		}
	}
	bcs, err := chromedp.CallBrowser(bctx, target.GetBrowserContexts, cdp.Empty{})
	if err != nil {
		return s, fmt.Errorf("browser: contexts: %w", err)
	}
	s.BrowserContexts = len(bcs.BrowserContextIDs)
	pids := processTree(m.PID())
	s.Processes = len(pids)
	for _, p := range pids {
		s.RSSMiB += float64(rssKiB(p)) / 1024
	}
	return s, nil
}

// processTree lists root and its descendants by walking /proc.
func processTree(root int) []int {
	if root == 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[pid] = pp
	}
	out := []int{root}
	for changed := true; changed; {
		changed = false
		in := map[int]bool{}
		for _, p := range out {
			in[p] = true
		}
		for pid, pp := range parent {
			if in[pp] && !in[pid] {
				out = append(out, pid)
				changed = true
			}
		}
	}
	return out
}

// rssKiB is a process's proportional set size (shared pages split between
// the processes sharing them, so a sum over Chromium's processes is not
// inflated), or its RSS where PSS is unavailable.
func rssKiB(pid int) int {
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Pss:") {
				if f := strings.Fields(line); len(f) >= 2 {
					n, _ := strconv.Atoi(f[1])
					return n
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

// SelfRSSMiB is this process's resident memory.
func SelfRSSMiB() float64 { return float64(rssKiB(os.Getpid())) / 1024 }

// callTimeout bounds one browser round trip, so a hung renderer becomes a
// TIMEOUT instead of a stuck env.
const callTimeout = 10 * time.Second

// HeadlessFlags are the launch options every headless Chromium of the gym
// uses: no sandbox (we run as root), and nothing that would reach the
// network or run in the background (this machine's network is closed).
func HeadlessFlags(execPath string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
	}
}
