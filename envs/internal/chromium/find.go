package chromium

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chromedp/chromedp"
)

// FindChromium returns the path of the Chromium binary the gym runs: the
// headless shell where it is installed, else the real browser binary (the
// Debian `chromium` on PATH is a wrapper script that misbehaves under
// chromedp). The headless shell is Chromium without the browser's UI
// layer: new contexts and navigations cost a fraction, with half the
// memory (envs/web/README.md has the figures).
func FindChromium() (string, error) {
	for _, p := range []string{HeadlessShell, "/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser", "/opt/google/chrome/chrome"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	for _, name := range []string{"chromium-headless-shell", "headless_shell", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// HeadlessShell is where Debian's chromium-headless-shell package puts
// the binary.
const HeadlessShell = "/usr/lib/chromium/chromium-headless-shell"

// IsHeadlessShell says whether the binary at path is the headless shell
// (Debian's chromium-headless-shell, Chrome for Testing's
// chrome-headless-shell, or an old headless_shell build).
func IsHeadlessShell(path string) bool {
	b := filepath.Base(path)
	return strings.Contains(b, "headless-shell") || strings.Contains(b, "headless_shell")
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
		return "", fmt.Errorf("chromium: %s --version: %w", execPath, err)
	}
	for _, w := range strings.Fields(string(out)) {
		if len(w) > 0 && w[0] >= '0' && w[0] <= '9' && strings.Contains(w, ".") {
			return w, nil
		}
	}
	return strings.TrimSpace(string(out)), nil
}

// HeadlessFlags are the launch options every headless Chromium of the gym
// uses: no sandbox (Process.Start turns Chromium's own sandbox back on
// where DetectSandbox finds it works), and nothing that would reach the
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
		// Cross-site iframes stay in the page's renderer, where the page
		// script (web observation) runs in every frame; out-of-process ones
		// would need a CDP session each. Every page of an env is one
		// agent's episode, so a process per site would guard the agent's
		// pages from each other, at a renderer per site.
		chromedp.Flag("disable-site-isolation-trials", true),
		// Chromium's own calls home (form autofill hints, translation,
		// optimization hints) would go through the web env's policy proxy
		// and show as requests the page made. DeferRendererTasksAfterInput
		// holds a page's timers after a click until the next frame is
		// drawn (an INP tweak for screens): it made every step wait for a
		// frame. One flag: a second disable-features would replace this.
		chromedp.Flag("disable-features", "AutofillServerCommunication,Translate,OptimizationHints,DeferRendererTasksAfterInput"),
	}
}

// ProcessTree lists root and its descendants by walking /proc.
func ProcessTree(root int) []int {
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

// PSSKiB is a process's proportional set size (shared pages split between
// the processes sharing them, so a sum over Chromium's processes is not
// inflated), or its RSS where PSS is unavailable.
func PSSKiB(pid int) int {
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
			if f := strings.Fields(line); len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}
