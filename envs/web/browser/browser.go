// Package browser drives one shared headless Chromium through chromedp: a
// Manager owns the process (envs/internal/chromium: started lazily,
// relaunched after a crash) and hands out Sessions, one browser context
// each, whose active Tab actions and observations run on. A Session holds
// an episode's tabs, dialogs and network policy; a new Session shares
// nothing with an old one (cookies, storage, cache, service workers,
// permissions, window.name).
package browser

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/envgym/envgym/envs/internal/chromium"
)

//go:embed page.js
var pageJS string

// ErrCrashed is wrapped by errors caused by the browser process dying.
var ErrCrashed = chromium.ErrCrashed

// ErrNoChromium means no Chromium binary was found.
var ErrNoChromium = chromium.ErrNoChromium

// Options configure a Manager. The zero value finds Chromium itself.
type Options struct {
	ExecPath string // the binary; default: FindChromium
	Width    int    // viewport; default 1024
	Height   int    // default 768
	// NoSandbox keeps Chromium's own sandbox off even where it works.
	NoSandbox bool
	Logf      func(format string, args ...any)
}

// Manager owns one Chromium process shared by all sessions of this
// process. It is safe for concurrent use.
type Manager struct {
	proc *chromium.Process
}

// NewManager returns a manager; Chromium starts on the first session.
func NewManager(opts Options) *Manager {
	return &Manager{proc: chromium.New(chromium.Options{ExecPath: opts.ExecPath, Width: opts.Width, Height: opts.Height, NoSandbox: opts.NoSandbox, Logf: opts.Logf})}
}

// DetectSandbox says whether Chromium's own sandbox can run in this
// process, and why not.
func DetectSandbox() chromium.Sandbox { return chromium.DetectSandbox() }

// Sandbox says whether the running browser has its own sandbox.
func (m *Manager) Sandbox() chromium.Sandbox { return m.proc.Sandbox() }

// FindChromium returns the path of the Chromium binary the gym runs: the
// headless shell when installed.
func FindChromium() (string, error) { return chromium.FindChromium() }

// IsHeadlessShell says whether the binary at path is Chromium's headless
// shell rather than the full browser.
func IsHeadlessShell(path string) bool { return chromium.IsHeadlessShell(path) }

// HeadlessFlags are the launch options of the gym's headless Chromium, for
// programs outside envs/ that drive one of their own (gym view's tests).
func HeadlessFlags(execPath string) []chromedp.ExecAllocatorOption {
	return chromium.HeadlessFlags(execPath)
}

// ProbeVersion asks the binary its version without starting a browser.
func ProbeVersion(ctx context.Context, execPath string) (string, error) {
	return chromium.ProbeVersion(ctx, execPath)
}

// Alive reports whether the browser of generation gen still runs.
func (m *Manager) Alive(gen uint64) bool { return m.proc.Alive(gen) }

// Version is the Chromium version, e.g. "156.0.8078.108"; empty before the
// first start.
func (m *Manager) Version() string { return m.proc.Version() }

// PID is the browser process id, 0 when it is not running.
func (m *Manager) PID() int { return m.proc.PID() }

// Kill kills the browser process, as a crash would. For tests.
func (m *Manager) Kill() error { return m.proc.Kill() }

// Close stops the browser. Sessions and tabs stop working.
func (m *Manager) Close() error { return m.proc.Close() }

// Stats counts what the browser holds, for leak checks.
type Stats struct {
	Targets         int     `json:"targets"`          // page targets (tabs)
	BrowserContexts int     `json:"browser_contexts"` // isolated contexts
	Processes       int     `json:"processes"`        // chromium processes (browser and children)
	RSSMiB          float64 `json:"rss_mib"`          // their memory (PSS)
}

// Stats reports the browser's tabs, contexts, processes and memory.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	bctx, _, err := m.proc.Start(ctx)
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
	pids := chromium.ProcessTree(m.PID())
	s.Processes = len(pids)
	for _, p := range pids {
		s.RSSMiB += float64(chromium.PSSKiB(p)) / 1024
	}
	return s, nil
}

// SelfRSSMiB is this process's resident memory.
func SelfRSSMiB() float64 { return float64(chromium.PSSKiB(os.Getpid())) / 1024 }

// errClosed is returned by calls on a closed session or tab.
var errClosed = errors.New("browser: closed")
