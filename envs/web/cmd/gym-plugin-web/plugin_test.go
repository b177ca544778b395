package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/internal/chromium"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
)

func TestMain(m *testing.M) {
	plugins.SandboxInitMain()
	os.Exit(m.Run())
}

// TestOwnSiteThroughPlugin is "bring your own site" as installed: the web
// plugin in its default sandbox (no network, /tmp hidden) plays a task
// file from /tmp on a dev server on the host's loopback. The host
// forwards exactly the port named in the allowed_hosts option and shows
// the task file read-only; the env's policy blocks the page's request to
// another loopback port of the host, and lists it.
func TestOwnSiteThroughPlugin(t *testing.T) {
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		fmt.Fprint(w, "tracked")
	}))
	defer other.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/receipt.csv" {
			w.Header().Set("Content-Disposition", `attachment; filename="receipt.csv"`)
			fmt.Fprint(w, "item,price\nmug,4\n")
			return
		}
		fmt.Fprint(w, `<title>Dev server</title><a href="/receipt.csv">Receipt</a><button onclick="done()">Order</button><p id="s">ready</p><script>
function done() {
  fetch('`+other.URL+`/pixel').catch(() => {});
  document.getElementById('s').textContent = 'ordered';
}</script>`)
	}))
	defer site.Close()

	dir := t.TempDir()
	bin := filepath.Join(dir, "gym-plugin-web")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	pdir := filepath.Join(dir, "plugins")
	if _, err := plugins.Install(context.Background(), bin, pdir, plugins.InstallOptions{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	taskFile := filepath.Join(dir, "tasks.json")
	task, _ := json.Marshal(map[string]any{
		"id": "order", "start_url": site.URL + "/", "goal": "Place the order.",
		"validator": "document.getElementById('s').textContent === 'ordered'",
	})
	if err := os.WriteFile(taskFile, task, 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugins.New(plugins.Config{Dir: pdir})
	defer h.Close()
	if len(h.Problems) > 0 {
		t.Fatalf("discover: %v", h.Problems)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := h.Make(ctx, "web/open-v0", map[string]any{"task_file": taskFile, "allowed_hosts": []any{site.URL}})
	if err != nil {
		t.Fatalf("make: %v", err)
	}
	defer e.Close()
	obs, err := e.Reset(ctx, gym.ResetOptions{})
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	m := regexp.MustCompile(`\[(\d+)\] button "Order"`).FindStringSubmatch(obs.Text)
	if m == nil {
		t.Fatalf("the dev server's page did not load in the sandboxed plugin:\n%s", obs.Text)
	}
	checkChromiumSandbox(t, e.Spec().Components["chromium_sandbox"])
	// Chromium in the sandbox saves a download into the plugin's scratch.
	d := regexp.MustCompile(`\[(\d+)\] link "Receipt"`).FindStringSubmatch(obs.Text)
	if d == nil {
		t.Fatalf("no Receipt link:\n%s", obs.Text)
	}
	r, err := e.Step(ctx, "click("+d[1]+")")
	if err != nil || r.Status != gym.StatusOK || !strings.Contains(r.Observation.Text, `Downloads: "receipt.csv" (17 bytes, completed)`) {
		t.Fatalf("download in the sandboxed plugin: %v %v\n%s", err, r.Status, r.Observation.Text)
	}
	r, err = e.Step(ctx, "click("+m[1]+")")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != gym.StatusOK || r.Reward != 1 || !r.Terminated {
		t.Fatalf("order: %s reward %v terminated %v\n%s", r.Status, r.Reward, r.Terminated, r.Observation.Text)
	}
	blocked := fmt.Sprint(r.Observation.Info["blocked_requests"])
	if !strings.Contains(blocked, other.URL+"/pixel") {
		t.Errorf("the request to the other loopback port is not listed as blocked: %v\n%s", blocked, r.Observation.Text)
	}
	if otherHits.Load() != 0 {
		t.Errorf("the other loopback port was reached %d times", otherHits.Load())
	}
}

// checkChromiumSandbox checks Chromium's own sandbox in the installed
// plugin (#18): where the plugin's uid can make user namespaces, the spec
// says it is on and every renderer of the page runs in a user and PID
// namespace of its own under more seccomp filters than the browser;
// elsewhere the spec says it is off and why.
func checkChromiumSandbox(t *testing.T, reported string) {
	t.Helper()
	// As the plugin's uid: Go would switch uid inside the new namespace,
	// where it has no mapping.
	probe := exec.Command("unshare", "--user", "--pid", "--net", "--fork", "true")
	uid := uint32(plugins.PluginUID("web"))
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	canNS := probe.Run()
	t.Logf("chromium_sandbox: %s (plugin uid can make namespaces: %v)", reported, canNS == nil)
	if canNS != nil {
		if !strings.HasPrefix(reported, "off: ") {
			t.Fatalf("the plugin's uid cannot make user namespaces (%v), yet the spec says Chromium's sandbox is %q", canNS, reported)
		}
		return
	}
	if !strings.HasPrefix(reported, "on") {
		t.Fatalf("the plugin's uid can make user namespaces, yet Chromium's own sandbox is %q", reported)
	}
	var browserPID int
	var renderers []int
	for _, pid := range chromium.ProcessTree(os.Getpid()) {
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmd), "chromium") {
			continue
		}
		switch {
		case strings.Contains(string(cmd), "--type=renderer"):
			renderers = append(renderers, pid)
		case !strings.Contains(string(cmd), "--type="):
			browserPID = pid
		}
	}
	if browserPID == 0 || len(renderers) == 0 {
		t.Fatalf("no Chromium browser (%d) or renderer (%v) under the plugin", browserPID, renderers)
	}
	ns := func(pid int, kind string) string {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		return l
	}
	filters := func(pid int) int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp_filters:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return -1
	}
	t.Logf("browser %d: %s, %d seccomp filters; renderers %v: %s, %d filters", browserPID, ns(browserPID, "user"), filters(browserPID), renderers, ns(renderers[0], "user"), filters(renderers[0]))
	for _, r := range renderers {
		for _, kind := range []string{"user", "pid"} {
			if ns(r, kind) == ns(browserPID, kind) {
				t.Errorf("renderer %d shares the browser's %s namespace (%s): not sandboxed", r, kind, ns(r, kind))
			}
		}
		// A renderer started for the context loaded ahead may still be
		// starting up: its filter is installed early in its start, not
		// at its fork, so give it a moment before calling it missing.
		start := time.Now()
		deadline := start.Add(15 * time.Second)
		for waited := false; ; waited = true {
			fr, fb := filters(r), filters(browserPID)
			if fr > fb || fr < 0 {
				if waited {
					t.Logf("renderer %d had its filter after %v", r, time.Since(start).Round(time.Millisecond))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("renderer %d has %d seccomp filters after 15 s, the browser %d: Chromium's own filter is missing", r, fr, fb)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
