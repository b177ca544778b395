package browser

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/internal/chromium"
)

func newManager(t *testing.T) *Manager {
	t.Helper()
	if _, err := FindChromium(); err != nil {
		t.Fatalf("these tests need a real Chromium: %v", err)
	}
	m := NewManager(Options{})
	t.Cleanup(func() { m.Close() })
	return m
}

// newTab opens a tab in a fresh context of m, closed when the test ends.
func newTab(t *testing.T, m *Manager) *Tab {
	t.Helper()
	tab, err := m.NewTab(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab
}

// servePage serves html at every path until the test ends.
func servePage(t *testing.T, html string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, html) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

const formPage = `<!doctype html><title>Form</title><h1>Hello</h1>
<form action="/done" method="get"><label>Name <input name="n" id="n"></label>
<label><input type="checkbox" name="c"> Agree</label>
<select name="s"><option>One</option><option>Two</option></select>
<button>Send</button></form><p>Some <b>bold</b> text</p>
<div id="out"></div><button id="late" onclick="setTimeout(()=>{document.getElementById('out').textContent='later'},30)">Late</button>`

func TestTabBasics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/done" {
			fmt.Fprintf(w, "<title>Done</title><p>got %s %s %s</p>", r.FormValue("n"), r.FormValue("c"), r.FormValue("s"))
			return
		}
		fmt.Fprint(w, formPage)
	}))
	defer srv.Close()
	ctx := context.Background()
	m := newManager(t)
	start := time.Now()
	tab, err := m.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	t.Logf("start+tab %v, chromium %s", time.Since(start), m.Version())
	if err := tab.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	p, err := tab.Observe(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, n := range p.Nodes {
		t.Logf("%+v", n)
		if n.ID != 0 {
			ids[n.Role+":"+n.Name] = n.ID
		}
	}
	if err := tab.Fill(ctx, ids["textbox:Name"], `Al "ice"`); err != nil {
		t.Fatal(err)
	}
	if err := tab.Check(ctx, ids["checkbox:Agree"]); err != nil {
		t.Fatal(err)
	}
	if err := tab.Select(ctx, ids["combobox:s"], "Two"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Select(ctx, ids["combobox:s"], "Three"); err == nil || !strings.Contains(err.Error(), "no option") {
		t.Fatalf("select of a missing option: %v", err)
	}
	if err := tab.Click(ctx, 9999); err == nil {
		t.Fatal("click on a missing id worked")
	}
	t0 := time.Now()
	if err := tab.Click(ctx, ids["button:Late"]); err != nil {
		t.Fatal(err)
	}
	if err := tab.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("click+settle with a 30ms timer: %v", time.Since(t0))
	p, _ = tab.Observe(ctx, 500)
	if !strings.Contains(fmt.Sprint(p.Nodes), "later") {
		t.Errorf("settle missed the delayed mutation: %+v", p.Nodes)
	}
	t0 = time.Now()
	if err := tab.Click(ctx, ids["button:Send"]); err != nil {
		t.Fatal(err)
	}
	if err := tab.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("submit+settle: %v", time.Since(t0))
	p, err = tab.Observe(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Done" || !strings.Contains(fmt.Sprint(p.Nodes), `got Al "ice" on Two`) {
		t.Fatalf("after submit: %s %+v", p.Title, p.Nodes)
	}
	moved, err := tab.Back(ctx)
	if err != nil || !moved {
		t.Fatal(moved, err)
	}
	p, _ = tab.Observe(ctx, 500)
	if p.Title != "Form" {
		t.Fatalf("after back: %q", p.Title)
	}
	// Enter in the text field submits the form.
	if err := tab.Fill(ctx, ids["textbox:Name"], "Bob"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Press(ctx, "Enter"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ = tab.Observe(ctx, 500)
	if p.Title != "Done" {
		t.Fatalf("enter did not submit: %q %+v", p.Title, p.Nodes)
	}
	png, err := tab.Screenshot(ctx)
	if err != nil || len(png) < 100 {
		t.Fatal(len(png), err)
	}
}

// TestRunsTheHeadlessShell checks that the browser the gym starts is
// Chromium's headless shell where setup installed it (the full browser
// costs several times more per context and per step).
func TestRunsTheHeadlessShell(t *testing.T) {
	if _, err := os.Stat(chromium.HeadlessShell); err != nil {
		t.Fatalf("setup is broken: %v (scripts/setup.sh installs chromium-headless-shell)", err)
	}
	m := newManager(t)
	newTab(t, m)
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", m.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if exe != chromium.HeadlessShell {
		t.Fatalf("the browser runs %s, want %s", exe, chromium.HeadlessShell)
	}
}

// TestPagesHaveFocus checks that a page behaves as the focused window of
// a user's browser: document.hasFocus() is true in every tab, and focus
// and blur events reach the page (forms that validate on blur).
func TestPagesHaveFocus(t *testing.T) {
	url := servePage(t, `<!doctype html><title>F</title><label>A <input id=a></label><label>B <input id=b></label><p id=log></p>
<script>a.addEventListener('blur', () => { log.textContent = 'left A'; });</script>`)
	ctx := context.Background()
	m := newManager(t)
	p := &policy{t: t, ctx: ctx, tab: newTab(t, m)}
	p.open(url)
	// Another episode's tab opened later takes nothing from this one.
	other := &policy{t: t, ctx: ctx, tab: newTab(t, m)}
	other.open(url)
	for _, tb := range []*Tab{p.tab, other.tab} {
		if f, err := Eval[bool](ctx, tb, "document.hasFocus()"); err != nil || !f {
			t.Fatalf("document.hasFocus() = %v, %v; want true", f, err)
		}
	}
	p.do("click A", p.tab.Click(ctx, p.id("textbox", "A")))
	p.do("click B", p.tab.Click(ctx, p.id("textbox", "B")))
	if s, err := Eval[string](ctx, p.tab, "log.textContent + '/' + document.activeElement.id"); err != nil || s != "left A/b" {
		t.Fatalf("after clicking A then B: %q, %v; want the blur handler to have run and B focused", s, err)
	}
}

// TestClickEventOrder checks that a click at a new place gives the page a
// real mouse's events in the UI Events order (over, move, down, up,
// click; a double click twice down, up, click, then dblclick), at the
// click's point, although the presses are sent before the move's reply.
func TestClickEventOrder(t *testing.T) {
	url := servePage(t, `<!doctype html><title>O</title>
<button id=a style="position:absolute;left:40px;top:40px">Left</button>
<button id=b style="position:absolute;left:400px;top:300px">Right</button>
<script>window.__log = [];
for (const e of ['mouseover','mousemove','mousedown','mouseup','click','dblclick'])
  document.addEventListener(e, ev => { if (ev.target.id) __log.push(e + ':' + ev.target.id + '@' + ev.clientX + ',' + ev.clientY); }, true);
</script>`)
	ctx := context.Background()
	p := &policy{t: t, ctx: ctx, tab: newTab(t, newManager(t))}
	p.open(url)
	tab := p.tab
	for i := range 40 {
		name, el := "Left", "a"
		if i%2 == 1 {
			name, el = "Right", "b"
		}
		if _, err := Eval[bool](ctx, tab, "window.__log = []; true"); err != nil {
			t.Fatal(err)
		}
		want := []string{"mouseover", "mousemove", "mousedown", "mouseup", "click"}
		var err error
		if i%5 == 4 {
			err = tab.DblClick(ctx, p.id("button", name))
			want = append(want, "mousedown", "mouseup", "click", "dblclick")
		} else {
			err = tab.Click(ctx, p.id("button", name))
		}
		if err != nil {
			t.Fatal(err)
		}
		log, err := Eval[[]string](ctx, tab, "__log")
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		at := ""
		for _, e := range log {
			kind, rest, _ := strings.Cut(e, ":")
			target, pt, _ := strings.Cut(rest, "@")
			if target != el || at != "" && pt != at {
				t.Fatalf("click %d on %s: event %q off the target or its point; log %v", i, el, e, log)
			}
			at = pt
			kinds = append(kinds, kind)
		}
		if strings.Join(kinds, " ") != strings.Join(want, " ") {
			t.Fatalf("click %d on %s: events %v, want %v", i, el, kinds, want)
		}
	}
}

// TestUnreachableHostSaysWhy checks that a page on an allowed host that
// cannot be reached (a dev server that is down, or one on the machine's
// loopback that the plugin's sandbox was not given) shows why and how to
// fix it, instead of a blank page.
func TestUnreachableHostSaysWhy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx := context.Background()
	s, err := newManager(t).NewSession(ctx, SessionOptions{Policy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hosts, err := ParseHosts("allowed_hosts", []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	s.SetHosts(hosts)
	p := &policy{t: t, ctx: ctx, tab: s.Active()}
	p.open("http://" + addr + "/")
	var seen strings.Builder
	for _, n := range p.page.Nodes {
		seen.WriteString(n.Name + "\n")
	}
	for _, want := range []string{"Could not reach " + addr + " (connect: connection refused)", "make option allowed_hosts", "http://" + addr} {
		if !strings.Contains(seen.String(), want) {
			t.Fatalf("the observation does not say %q:\n%s", want, dump(p.page))
		}
	}
}
