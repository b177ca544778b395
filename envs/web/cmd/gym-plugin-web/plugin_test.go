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
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		fmt.Fprint(w, `<title>Dev server</title><button onclick="done()">Order</button><p id="s">ready</p><script>
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
	r, err := e.Step(ctx, "click("+m[1]+")")
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
