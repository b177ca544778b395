package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

// TestPagePatternsThroughEnv plays the page patterns of issue 17 through
// web/open-v0 and its observation text, as an agent does: a scripted policy
// finds each target by its label in the text, never by a fixed id, and
// writes actions in our and BrowserGym's spellings. The pages are the
// browser package's testdata/patterns, on two origins of different sites.
func TestPagePatternsThroughEnv(t *testing.T) {
	files := http.FileServer(http.Dir("browser/testdata/patterns"))
	var base []string
	for _, host := range []string{"127.0.0.1", "localhost"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: files}
		go srv.Serve(l)
		defer srv.Close()
		base = append(base, fmt.Sprintf("http://%s:%d", host, l.Addr().(*net.TCPAddr).Port))
	}
	a, b := base[0], base[1]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := []string{strings.TrimPrefix(a, "http://"), strings.TrimPrefix(b, "http://")}
	tasks := []map[string]any{
		{"id": "frames", "start_url": a + "/frames.html?other=" + b, "allowed_hosts": hosts, "goal": "Send Lyon, pay, press the deep button.",
			"validator": "return document.getElementById('same').contentDocument.getElementById('res').textContent === 'Sent Lyon'"},
		{"id": "inputs", "start_url": a + "/inputs.html", "goal": "Fill the form.",
			"validator": "const s = window.__egState; return s.date === '2024-03-09' && s.multi === 'Ham,Basil' && s.keys === 'typed' && document.getElementById('filestate').textContent === 'read hello.txt (5 bytes)'"},
		{"id": "canvas", "start_url": a + "/canvas.html", "goal": "Click the red square.", "validator": "return !!window.__egState && window.__egState.last === 'hit'"},
		{"id": "listeners", "start_url": a + "/listeners.html", "goal": "Pick Banana.", "validator": "return !!window.__egState && window.__egState.last === 'fruit Banana'"},
		{"id": "cover", "start_url": a + "/scrollbox.html", "goal": "Press the button under the banner.", "validator": "return !!window.__egState && window.__egState.last === 'under'"},
	}
	raw, _ := json.Marshal(tasks)
	file := filepath.Join(dir, "tasks.json")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := registry(t)
	ctx := context.Background()
	e, err := r.Make(ctx, "web/open-v0", map[string]any{"task_file": file})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	var text string
	reset := func(task string) {
		t.Helper()
		obs, err := e.Reset(ctx, gym.ResetOptions{TaskID: task})
		if err != nil {
			t.Fatalf("reset %s: %v", task, err)
		}
		text = obs.Text
	}
	step := func(act string, want gym.Status) gym.StepResult {
		t.Helper()
		res, err := e.Step(ctx, act)
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
		if res.Status != want {
			t.Fatalf("%s: %v, want %v\n%s", act, res.Status, want, res.Observation.Text)
		}
		text = res.Observation.Text
		return res
	}
	// id finds `[12] role "label"` in the observation text.
	id := func(role, label string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^\[(\d+)\] ` + regexp.QuoteMeta(role) + ` ` + regexp.QuoteMeta(strconv.Quote(label))).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s %q in:\n%s", role, label, text)
		}
		return m[1]
	}
	solved := func(res gym.StepResult) {
		t.Helper()
		if !res.Terminated || res.Reward != 1 {
			t.Fatalf("not solved: reward %v terminated %v\n%s", res.Reward, res.Terminated, res.Observation.Text)
		}
	}

	reset("frames")
	step(fmt.Sprintf(`fill(%s, "Lyon")`, id("textbox", "City")), gym.StatusOK)
	step(fmt.Sprintf(`click("%s")`, id("clickable", "Deep button")), gym.StatusOK)
	step(fmt.Sprintf(`click(%s)`, id("button", "Pay now")), gym.StatusOK)
	if !strings.Contains(text, `text "Payment done"`) || !strings.Contains(text, `text "Deep clicked"`) {
		t.Fatalf("frame results missing:\n%s", text)
	}
	solved(step(fmt.Sprintf(`click(%s)`, id("button", "Send")), gym.StatusOK))

	reset("inputs")
	res := step(fmt.Sprintf(`fill(%s, "03/09/2024")`, id("textbox", "Start date")), gym.StatusInvalidAction)
	if !strings.Contains(res.Observation.Text, "YYYY-MM-DD") {
		t.Fatalf("bad date format not explained:\n%s", res.Observation.Text)
	}
	step(fmt.Sprintf(`fill("%s", "2024-03-09")`, id("textbox", "Start date")), gym.StatusOK)
	step(fmt.Sprintf(`select_option("%s", ["Ham", "Basil"])`, id("listbox", "Toppings")), gym.StatusOK)
	step(fmt.Sprintf(`upload_file("%s", "../tasks.json")`, id("button", "Attachment")), gym.StatusInvalidAction)
	step(fmt.Sprintf(`upload(%s, "hello.txt")`, id("button", "Attachment")), gym.StatusOK)
	step(fmt.Sprintf(`press(%s, "Control+a")`, id("textbox", "Shortcut field")), gym.StatusOK)
	solved(step(`keyboard_type("typed")`, gym.StatusOK))

	reset("canvas")
	m := regexp.MustCompile(`canvas "Drawing" box=\[(\d+),(\d+),(\d+),(\d+)\]`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("canvas box missing:\n%s", text)
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[2])
	solved(step(fmt.Sprintf("mouse_click(%d, %d)", x+1+220, y+1+140), gym.StatusOK))

	reset("listeners")
	solved(step(fmt.Sprintf("click(%s)", id("clickable", "Banana")), gym.StatusOK))

	reset("cover")
	res = step(fmt.Sprintf("click(%s)", id("button", "Hidden under banner")), gym.StatusInvalidAction)
	if !strings.Contains(res.Observation.Text, `Cookie banner`) {
		t.Fatalf("the refused click does not say what was hit:\n%s", res.Observation.Text)
	}
	step(fmt.Sprintf("click(%s)", id("button", "Accept cookies")), gym.StatusOK)
	solved(step(fmt.Sprintf("click(%s)", id("button", "Hidden under banner")), gym.StatusOK))
}
