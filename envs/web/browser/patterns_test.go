package browser

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The pages in testdata/patterns are patterns of the web users bring
// (issue 17). Each test plays a scripted policy that finds its targets in
// the observation by role and label, never by a fixed id.

// patternSite serves testdata/patterns on two origins of different sites:
// http://127.0.0.1:P and http://localhost:P (the cross-origin frames).
type patternSite struct {
	a, b string // base URLs
}

func servePatterns(t *testing.T) patternSite {
	t.Helper()
	files := http.FileServer(http.Dir("testdata/patterns"))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-items" {
			// Headers now, the body later: a fetch resolves before the
			// page has its data.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(400 * time.Millisecond)
			fmt.Fprint(w, `["alpha order","beta order","gamma order"]`)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/files/invoice.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Disposition", `attachment; filename="invoice-42.pdf"`)
			fmt.Fprint(w, "%PDF-1.4 invoice 42")
			return
		case "/files/huge.bin":
			// Larger than a download may be.
			w.Header().Set("Content-Disposition", `attachment; filename="huge.bin"`)
			w.Header().Set("Content-Length", strconv.Itoa(MaxDownloadBytes+(16<<20)))
			chunk := make([]byte, 1<<20)
			for range MaxDownloadBytes>>20 + 16 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		case "/ws":
			// A chat server that answers each message after 150 ms.
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				_, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				time.Sleep(150 * time.Millisecond)
				if c.Write(r.Context(), websocket.MessageText, []byte("bot: got "+string(msg))) != nil {
					return
				}
			}
		case "/events", "/events/silent":
			// Server-sent events: the current state after 100 ms, then
			// silence (or silence from the start).
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			if r.URL.Path == "/events" {
				time.Sleep(100 * time.Millisecond)
				fmt.Fprint(w, "event: update\ndata: 3 new orders\n\n")
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		case "/hold":
			// A long poll: the server answers when it has news (here: never
			// within a test).
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		case "/files/data.csv":
			w.Header().Set("Content-Type", "text/csv")
			fmt.Fprint(w, "a,b\n1,2\n")
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, "/slow/"); ok {
			// Resources a page loads after an action, arriving later.
			time.Sleep(300 * time.Millisecond)
			switch name {
			case "reports.mjs":
				w.Header().Set("Content-Type", "text/javascript")
				fmt.Fprint(w, `export const title = () => 'Reports: 3 overdue';`)
			case "settings.mjs":
				w.Header().Set("Content-Type", "text/javascript")
				fmt.Fprint(w, `import { plural } from '/slow/format.mjs'; export const title = () => 'Settings: ' + plural(2, 'device');`)
			case "format.mjs":
				w.Header().Set("Content-Type", "text/javascript")
				fmt.Fprint(w, `export const plural = (n, w) => n + ' ' + w + (n === 1 ? '' : 's');`)
			case "chart.js":
				w.Header().Set("Content-Type", "text/javascript")
				fmt.Fprint(w, `document.getElementById('status').textContent = 'Chart ready';`)
			case "photo.svg", "banner.svg":
				w.Header().Set("Content-Type", "image/svg+xml")
				wd, ht := 40, 30
				if name == "banner.svg" {
					wd, ht = 120, 20
				}
				fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d"><rect width="%d" height="%d" fill="teal"/></svg>`, wd, ht, wd, ht)
			default:
				http.NotFound(w, r)
			}
			return
		}
		files.ServeHTTP(w, r)
	})
	var urls []string
	for _, host := range []string{"127.0.0.1", "localhost"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, fmt.Sprintf("http://%s:%d", host, l.Addr().(*net.TCPAddr).Port))
	}
	return patternSite{a: urls[0], b: urls[1]}
}

// policy drives one tab the way an agent does: observe, pick by label, act.
type policy struct {
	t    *testing.T
	ctx  context.Context
	tab  *Tab
	page Page
}

func (p *policy) open(url string) {
	p.t.Helper()
	pg, err := p.tab.Open(p.ctx, url, 500)
	if err != nil {
		p.t.Fatalf("open %s: %v", url, err)
	}
	p.page = pg
}

func (p *policy) settle() {
	p.t.Helper()
	pg, err := p.tab.SettleObserve(p.ctx, 500)
	if err != nil {
		p.t.Fatalf("settle: %v", err)
	}
	p.page = pg
}

// node finds the line with this role and name.
func (p *policy) node(role, name string) Node {
	p.t.Helper()
	for _, n := range p.page.Nodes {
		if n.Role == role && n.Name == name {
			if n.ID == 0 {
				p.t.Fatalf("%s %q has no id", role, name)
			}
			return n
		}
	}
	p.t.Fatalf("no %s %q in the observation:\n%s", role, name, dump(p.page))
	return Node{}
}

func (p *policy) id(role, name string) int { p.t.Helper(); return p.node(role, name).ID }

// do runs an action and settles, as a step does.
func (p *policy) do(what string, err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, dump(p.page))
	}
	p.settle()
}

func (p *policy) state(key string) string {
	p.t.Helper()
	return fmt.Sprint(p.page.State[key])
}

func (p *policy) wantState(key, want string) {
	p.t.Helper()
	if got := p.state(key); got != want {
		p.t.Fatalf("state %s = %q, want %q\n%s", key, got, want, dump(p.page))
	}
}

// hasText reports whether a line of the observation reads s.
func (p *policy) hasText(s string) bool {
	for _, n := range p.page.Nodes {
		if n.Name == s {
			return true
		}
	}
	return false
}

// dumpInvalid is dump with each field's validity.
func dumpInvalid(pg Page) string {
	var b strings.Builder
	for _, n := range pg.Nodes {
		fmt.Fprintf(&b, "  [%d] %s %q invalid=%q\n", n.ID, n.Role, n.Name, n.Invalid)
	}
	return b.String()
}

func dump(pg Page) string {
	var b strings.Builder
	for _, n := range pg.Nodes {
		fmt.Fprintf(&b, "  [%d] %s %q", n.ID, n.Role, n.Name)
		if n.Type != "" {
			fmt.Fprintf(&b, " type=%s", n.Type)
		}
		if n.Value != nil {
			fmt.Fprintf(&b, " value=%q", *n.Value)
		}
		if n.Hint != "" {
			fmt.Fprintf(&b, " hint=%q", n.Hint)
		}
		if n.Box != nil {
			fmt.Fprintf(&b, " box=%v", *n.Box)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestPatterns(t *testing.T) {
	site := servePatterns(t)
	ctx := context.Background()
	m := newManager(t)
	tab := newTab(t, m)
	p := &policy{t: t, ctx: ctx, tab: tab}
	run := func(name string, f func(p *policy)) {
		t.Run(name, func(t *testing.T) {
			p.t = t
			f(p)
		})
	}

	run("listeners", func(p *policy) {
		p.open(site.a + "/listeners.html")
		for _, c := range []struct{ role, name, want string }{
			{"clickable", "Save draft", "saved"},        // addEventListener only
			{"clickable", "Banana", "fruit Banana"},     // delegation on a list
			{"clickable", "Green", "chip Green"},        // document delegation, pointer cursor
			{"link", "More info", "more"},               // <a> without href
			{"clickable", "Paris", "city Paris"},        // tabindex=-1, mousedown
			{"clickable", "Delete Pear", "delete pear"}, // an icon named by its title, in an app's root
		} {
			p.do("click "+c.name, p.tab.Click(p.ctx, p.id(c.role, c.name)))
			p.wantState("last", c.want)
		}
		// The app root's listeners do not make its text a target.
		for _, n := range p.page.Nodes {
			if n.Name == "Synced 2 lists" && n.Role != "text" {
				p.t.Errorf("the app's status shows as %s [%d], want text:\n%s", n.Role, n.ID, dump(p.page))
			}
		}
		if !p.hasText("Synced 2 lists") {
			p.t.Errorf("no text \"Synced 2 lists\":\n%s", dump(p.page))
		}
	})

	run("library widgets", func(p *policy) {
		// A select replaced by an ARIA 1.0 combobox (Choices.js), tabs
		// with close buttons, names from CSS generated content (Quill's
		// placeholder, a picker's choice), a nameless arrow.
		p.open(site.a + "/widgets.html")
		for _, n := range p.page.Nodes {
			if n.Role == "combobox" && n.Value != nil {
				p.t.Errorf("the native select the widget replaced is shown: %+v\n%s", n, dump(p.page))
			}
		}
		p.do("open rooms", p.tab.Click(p.ctx, p.id("combobox", "Room")))
		p.do("pick", p.tab.Click(p.ctx, p.id("option", "Borealis")))
		p.wantState("last", "room Borealis")
		if n := p.node("option", "Borealis"); !n.Selected {
			p.t.Errorf("the chosen room is not shown selected: %+v", n)
		}
		p.node("tab", "Notes.txt")
		p.do("close tab", p.tab.Click(p.ctx, p.id("button", "Close Notes.txt")))
		p.wantState("last", "closed Notes.txt")
		p.node("button", "Normal")
		p.do("agenda", p.tab.Fill(p.ctx, p.id("textbox", "Agenda…"), "Quarterly review"))
		p.wantState("last", "agenda Quarterly review")
		var arrow Node
		for _, n := range p.page.Nodes {
			if n.Hint == "cal-prev" {
				arrow = n
			}
		}
		if arrow.ID == 0 || arrow.Name != "" {
			p.t.Fatalf("no nameless target with hint cal-prev:\n%s", dump(p.page))
		}
		p.do("previous", p.tab.Click(p.ctx, arrow.ID))
		p.wantState("last", "previous month")
	})

	run("svg", func(p *policy) {
		p.open(site.a + "/svg.html")
		blue := p.node("clickable", "Blue dot")
		if blue.Box == nil || blue.Box[2] < 40 {
			p.t.Fatalf("SVG target without its box: %+v", blue)
		}
		p.do("click blue", p.tab.Click(p.ctx, blue.ID))
		p.wantState("last", "shape c1")
		p.do("click rect", p.tab.Click(p.ctx, p.id("clickable", "rect orange")))
		p.wantState("last", "shape r1")
		p.node("link", "SVG link")
	})

	run("canvas", func(p *policy) {
		p.open(site.a + "/canvas.html")
		cv := p.node("canvas", "Drawing")
		if cv.Box == nil {
			p.t.Fatalf("canvas without a box: %+v", cv)
		}
		// The red square is at (200..240, 120..160) inside the canvas, whose
		// border is 1 px.
		x, y := float64(cv.Box[0]+1+220), float64(cv.Box[1]+1+140)
		p.do("mouse_click", p.tab.MouseClick(p.ctx, x, y, 1))
		p.wantState("last", "hit")
		var ae *ActionError
		if err := p.tab.MouseClick(p.ctx, 5000, 10, 1); !errors.As(err, &ae) || !strings.Contains(ae.Msg, "outside the viewport") {
			p.t.Fatalf("click outside the viewport: %v", err)
		}
	})

	run("drag", func(p *policy) {
		p.open(site.a + "/drag.html")
		p.do("drag handle", p.tab.Drag(p.ctx, p.id("clickable", "Handle"), p.id("clickable", "Drop zone")))
		p.wantState("pointer", "in zone")
		p.do("drag card", p.tab.Drag(p.ctx, p.id("clickable", "Card A"), p.id("clickable", "Done column")))
		p.wantState("html5", "dropped card-a")
	})

	run("shadow", func(p *policy) {
		p.open(site.a + "/shadow.html")
		if !p.hasText("Inside open root") {
			p.t.Fatalf("open shadow root's text missing:\n%s", dump(p.page))
		}
		p.do("fill", p.tab.Fill(p.ctx, p.id("textbox", "Shadow name"), "Ada"))
		p.do("click open", p.tab.Click(p.ctx, p.id("button", "Shadow OK")))
		p.wantState("last", "open ok")
		p.wantState("name", "Ada")
		p.do("click closed", p.tab.Click(p.ctx, p.id("button", "Closed OK")))
		p.wantState("last", "closed ok")
		p.do("click slotted", p.tab.Click(p.ctx, p.id("button", "Slotted label")))
		p.wantState("last", "slot ok")
		p.do("click slotted button", p.tab.Click(p.ctx, p.id("button", "Buy slotted")))
		p.wantState("last", "buy ok")
		// A declarative closed root: the parser attaches it without
		// attachShadow; the tab finds it through the protocol.
		p.do("click declarative", p.tab.Click(p.ctx, p.id("button", "Declarative OK")))
		p.wantState("last", "declarative ok")
	})

	run("frames", func(p *policy) {
		p.open(site.a + "/frames.html?other=" + site.b)
		seen := map[int]bool{}
		for _, n := range p.page.Nodes {
			if n.ID != 0 && seen[n.ID] {
				p.t.Fatalf("id %d twice:\n%s", n.ID, dump(p.page))
			}
			seen[n.ID] = true
		}
		p.do("fill city", p.tab.Fill(p.ctx, p.id("textbox", "City"), "Lyon"))
		p.do("send", p.tab.Click(p.ctx, p.id("button", "Send")))
		p.do("pay", p.tab.Click(p.ctx, p.id("button", "Pay now")))         // cross-origin (another site)
		p.do("deep", p.tab.Click(p.ctx, p.id("clickable", "Deep button"))) // same origin as the top, inside the cross-origin frame
		p.do("srcdoc", p.tab.Click(p.ctx, p.id("button", "Open note")))
		// Uploads into the cross-origin frame and into the frame nested in
		// it (same origin as the top, reached through the other site's).
		f := filepath.Join(p.t.TempDir(), "hello.txt")
		if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.do("upload receipt", p.tab.Upload(p.ctx, p.id("button", "Receipt"), []string{f}))
		p.do("upload scan", p.tab.Upload(p.ctx, p.id("button", "Scan"), []string{f}))
		for _, s := range []string{"Sent Lyon", "Payment done", "Deep clicked", "note opened", "receipt hello.txt (5 bytes)", "scan hello.txt"} {
			if !p.hasText(s) {
				p.t.Fatalf("%q missing after the actions in frames:\n%s", s, dump(p.page))
			}
		}
	})

	run("inputs", func(p *policy) {
		p.open(site.a + "/inputs.html")
		for _, c := range []struct{ label, value, key string }{
			{"Start date", "2024-03-09", "date"},
			{"Alarm", "14:05", "time"},
			{"Meeting", "2024-03-09T14:05", "dtl"},
			{"Billing month", "2024-03", "month"},
			{"Sprint week", "2024-W10", "week"},
			{"Theme colour", "#ff8800", "color"},
			{"Quantity", "42", "num"},
		} {
			p.do("fill "+c.label, p.tab.Fill(p.ctx, p.id("textbox", c.label), c.value))
			p.wantState(c.key, c.value)
		}
		p.do("fill range", p.tab.Fill(p.ctx, p.id("slider", "Volume"), "35"))
		p.wantState("range", "35")
		for _, c := range []struct{ role, label, value, want string }{
			{"textbox", "Start date", "03/09/2024", "YYYY-MM-DD"},
			{"textbox", "Alarm", "2pm", "HH:MM"},
			{"textbox", "Theme colour", "orange", "#rrggbb"},
			{"textbox", "Sprint week", "2024-10", "YYYY-Www"},
			{"slider", "Volume", "33", "steps of 5"},
			{"textbox", "Quantity", "many", "number"},
		} {
			err := p.tab.Fill(p.ctx, p.id(c.role, c.label), c.value)
			var ae *ActionError
			if !errors.As(err, &ae) || !strings.Contains(ae.Msg, c.want) {
				p.t.Fatalf("fill %s with %q: %v, want an error naming %q", c.label, c.value, err, c.want)
			}
		}
		p.settle()
		p.wantState("date", "2024-03-09") // a refused value loses nothing
		p.wantState("range", "35")
		p.do("fill notes", p.tab.Fill(p.ctx, p.id("textbox", "Notes editor"), "new notes"))
		p.wantState("notes", "new notes")
		if p.state("notesInputs") == "0" {
			p.t.Fatal("the contenteditable saw no input event")
		}
		p.do("multi", p.tab.Select(p.ctx, p.id("listbox", "Toppings"), "Ham", "Basil"))
		p.wantState("multi", "Ham,Basil")
		p.do("focus", p.tab.Focus(p.ctx, p.id("textbox", "Shortcut field")))
		p.do("ctrl+a", p.tab.Press(p.ctx, "Control+a"))
		p.do("type", p.tab.Type(p.ctx, "new"))
		p.wantState("keys", "new")
		if !p.hasText("ctrl+a seen") {
			p.t.Fatalf("the page saw no Control+a keydown:\n%s", dump(p.page))
		}
		dir := p.t.TempDir()
		f := filepath.Join(dir, "hello.txt")
		if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
			p.t.Fatal(err)
		}
		file := p.node("button", "Attachment")
		if file.Type != "file" {
			p.t.Fatalf("file input not marked: %+v", file)
		}
		p.do("upload", p.tab.Upload(p.ctx, file.ID, []string{f}))
		if !p.hasText("read hello.txt (5 bytes)") {
			p.t.Fatalf("upload not read by the page:\n%s", dump(p.page))
		}
	})

	run("fetch body", func(p *policy) {
		p.open(site.a + "/fetch.html")
		if p.hasText("Loading…") || !p.hasText("beta order") {
			p.t.Fatalf("observed before the fetched body arrived:\n%s", dump(p.page))
		}
	})

	run("animations", func(p *policy) {
		p.open(site.a + "/animate.html")
		for i := 0; i < 3; i++ {
			p.open(site.a + "/animate.html")
			p.do("open", p.tab.Click(p.ctx, p.id("button", "Open panel")))
			p.wantState("height", "120")
			p.do("slide", p.tab.Click(p.ctx, p.id("button", "Slide box")))
			p.wantState("left", "208") // 200 px from the body's 8 px margin
		}
	})

	run("scheduled by message", func(p *policy) {
		// Each hop works 12 ms without changing the DOM, longer than the
		// quiet period: only the messages themselves say work is pending.
		p.open(site.a + "/schedule.html")
		p.do("save", p.tab.Click(p.ctx, p.id("button", "Save items")))
		if !p.hasText("Saved 4 slices") {
			p.t.Fatalf("observed before the MessageChannel work ran:\n%s", dump(p.page))
		}
		p.do("sync", p.tab.Click(p.ctx, p.id("button", "Sync now")))
		if !p.hasText("Synced in 4 hops") {
			p.t.Fatalf("observed before the window.postMessage work ran:\n%s", dump(p.page))
		}
	})

	run("background work", func(p *policy) {
		// Each button starts work the page finishes in a channel of its
		// own, with gaps longer than the quiet period: the observation
		// after the click must show the finished work.
		p.open(site.a + "/background.html")
		for _, c := range []struct{ button, want string }{
			{"Compute in worker", "Worker answered 42"},
			{"Save notes", "Stored 6 notes"},
			{"Load chart", "Chart ready"},
			{"Load photo", "Photo 40x30"},
			{"Preload banner", "Banner 120 wide"},
			{"Tidy up", "Tidied 4 drawers"},
			{"Update badge", "Badge: 10"},
			{"Tidy while syncing", "Tidied while syncing"},
		} {
			t0 := time.Now()
			p.do(c.button, p.tab.Click(p.ctx, p.id("button", c.button)))
			if !p.hasText(c.want) {
				took := time.Since(t0)
				time.Sleep(500 * time.Millisecond)
				later, _ := eval[string](p.ctx, p.tab, "document.getElementById('status').textContent", false)
				p.t.Errorf("after %q (%v): no %q in the observation (500 ms later: %q):\n%s", c.button, took, c.want, later, dump(p.page))
			}
		}
	})

	run("modules loaded on demand", func(p *policy) {
		// import() is syntax page.js cannot wrap: its requests are seen
		// through the protocol. Each module arrives 300 ms late.
		p.open(site.a + "/modules.html")
		for _, c := range []struct{ button, want string }{
			{"Open reports", "Reports: 3 overdue"},
			{"Open settings", "Settings: 2 devices"}, // and the chunk it imports
		} {
			t0 := time.Now()
			p.do(c.button, p.tab.Click(p.ctx, p.id("button", c.button)))
			if !p.hasText(c.want) {
				p.t.Errorf("after %q (%v): observed before the route's modules loaded:\n%s", c.button, time.Since(t0), dump(p.page))
			}
		}
		settled := func(what string, max int) {
			p.t.Helper()
			res, err := eval[settled](p.ctx, p.tab, fmt.Sprintf("window.__egym.settle(8, %d, -1, 0)", max), true)
			if err != nil || res.S != "ok" {
				p.t.Fatalf("%s: the settle wait answered %q (%v) within %d ms, want ok", what, res.S, err, max)
			}
		}
		// A stream's first event is waited for; once heard, an open
		// stream holds nothing, and a silent one holds only briefly.
		p.do("follow", p.tab.Click(p.ctx, p.id("button", "Follow updates")))
		if !p.hasText("Updates: 3 new orders") {
			p.t.Errorf("observed before the stream's first event:\n%s", dump(p.page))
		}
		settled("with the stream open", 300)
		if _, err := eval[bool](p.ctx, p.tab, "(window.quiet = new EventSource('/events/silent'), true)", false); err != nil {
			p.t.Fatal(err)
		}
		settled("with a silent stream just opened", 600)
	})

	run("resize and intersection observers", func(p *policy) {
		// They report in the frame after a change, which the headless
		// renderer draws only when asked.
		p.open(site.a + "/observers.html")
		p.do("widen", p.tab.Click(p.ctx, p.id("button", "Widen panel")))
		if !p.hasText("Panel Wide layout") {
			p.t.Fatalf("observed before the ResizeObserver switched the layout:\n%s", dump(p.page))
		}
		for _, want := range []string{"Post 40", "Post 60"} {
			p.do("jump", p.tab.Click(p.ctx, p.id("button", "Jump to end")))
			if !p.hasText(want) {
				p.t.Fatalf("observed before the IntersectionObserver loaded more posts (want %q):\n%s", want, dump(p.page))
			}
		}
	})

	run("form validation", func(p *policy) {
		// A submit the browser's validation blocks changes nothing in the
		// DOM: the fields it reported say why.
		p.open(site.a + "/validation.html")
		p.do("submit empty", p.tab.Click(p.ctx, p.id("button", "Sign up")))
		email := p.node("textbox", "Email")
		if email.Invalid == "" {
			p.t.Fatalf("a blocked submit left no trace on the empty required field:\n%s", dumpInvalid(p.page))
		}
		p.t.Logf("empty Email: %q", email.Invalid)
		p.do("email", p.tab.Fill(p.ctx, email.ID, "ada"))
		p.do("zip", p.tab.Fill(p.ctx, p.id("textbox", "Zip code"), "12"))
		p.do("terms", p.tab.Click(p.ctx, p.id("checkbox", "I agree to the terms")))
		p.do("submit bad", p.tab.Click(p.ctx, p.id("button", "Sign up")))
		if e := p.node("textbox", "Email"); e.Invalid == "" || e.Invalid == email.Invalid || !strings.Contains(e.Invalid, "@") {
			p.t.Fatalf("Email %q: want the browser's message about the missing @ (was %q when empty)", e.Invalid, email.Invalid)
		}
		if z := p.node("textbox", "Zip code"); z.Invalid == "" {
			p.t.Fatalf("Zip code \"12\" against pattern [0-9]{5}: no message\n%s", dumpInvalid(p.page))
		}
		if c := p.node("checkbox", "I agree to the terms"); c.Invalid != "" {
			p.t.Fatalf("the checked box still reads invalid: %q", c.Invalid)
		}
		p.do("email", p.tab.Fill(p.ctx, p.id("textbox", "Email"), "ada@example.com"))
		p.do("zip", p.tab.Fill(p.ctx, p.id("textbox", "Zip code"), "12345"))
		p.do("nick", p.tab.Fill(p.ctx, p.id("textbox", "Nickname"), "x"))
		p.do("submit", p.tab.Click(p.ctx, p.id("button", "Sign up")))
		for _, f := range []string{"Email", "Zip code"} {
			if n := p.node("textbox", f); n.Invalid != "" {
				p.t.Fatalf("%s is valid now, yet reads %q", f, n.Invalid)
			}
		}
		if n := p.node("textbox", "Nickname"); n.Invalid != "Nicknames are 3 to 12 letters." {
			p.t.Fatalf("the page's own aria-invalid: %q, want its aria-errormessage", n.Invalid)
		}
		p.do("nick", p.tab.Fill(p.ctx, p.id("textbox", "Nickname"), "Ada"))
		p.do("submit", p.tab.Click(p.ctx, p.id("button", "Sign up")))
		if !p.hasText("Welcome, Ada!") {
			p.t.Fatalf("not signed up:\n%s", dumpInvalid(p.page))
		}
	})

	run("buttons and modifiers", func(p *policy) {
		p.open(site.a + "/menus.html")
		row := func(name string) int { p.t.Helper(); return p.id("clickable", name) }
		ctrl, shift := ClickOptions{Modifiers: 2}, ClickOptions{Modifiers: 8}
		p.do("click", p.tab.Click(p.ctx, row("report.pdf")))
		p.wantState("selected", "report.pdf")
		p.do("control-click", p.tab.ClickWith(p.ctx, row("photo.png"), 1, ctrl))
		p.wantState("selected", "report.pdf,photo.png")
		p.do("shift-click", p.tab.ClickWith(p.ctx, row("budget.xlsx"), 1, shift))
		p.wantState("selected", "photo.png,budget.xlsx")
		p.do("right-click", p.tab.ClickWith(p.ctx, row("notes.txt"), 1, ClickOptions{Button: "right"}))
		p.do("delete", p.tab.Click(p.ctx, p.id("menuitem", "Delete")))
		p.wantState("files", "report.pdf,photo.png,budget.xlsx")
		p.do("middle-click", p.tab.ClickWith(p.ctx, p.id("clickable", "Inbox"), 1, ClickOptions{Button: "middle"}))
		p.wantState("tabs", "Drafts")
	})

	run("single-page app history", func(p *policy) {
		// Routes by history.pushState: back and forward are popstate in
		// the same document, not loads.
		p.open(site.a + "/spa.html")
		p.do("cart", p.tab.Click(p.ctx, p.id("link", "Cart")))
		p.do("account", p.tab.Click(p.ctx, p.id("link", "Account")))
		for _, c := range []struct {
			forward bool
			title   string
		}{{false, "Shop app: cart"}, {false, "Shop app: home"}, {true, "Shop app: cart"}, {true, "Shop app: account"}} {
			move := p.tab.Back
			if c.forward {
				move = p.tab.Forward
			}
			moved, err := move(p.ctx)
			if err != nil || !moved {
				p.t.Fatalf("history move (forward %v): moved %v, %v", c.forward, moved, err)
			}
			p.settle()
			if p.page.Title != c.title {
				p.t.Fatalf("forward %v: title %q, want %q\n%s", c.forward, p.page.Title, c.title, dump(p.page))
			}
		}
		if moved, err := p.tab.Forward(p.ctx); moved || err != nil {
			p.t.Fatalf("forward from the newest entry: moved %v, %v", moved, err)
		}
	})

	run("long page window", func(p *policy) {
		// More lines than the limit: the observation is the part around
		// the viewport, and what is left out is counted.
		p.open(site.a + "/long.html")
		if !p.page.Truncated || p.page.Above != 0 || p.page.Below == 0 || !p.hasText("Item 1") {
			p.t.Fatalf("top of a long page: truncated %v above %d below %d", p.page.Truncated, p.page.Above, p.page.Below)
		}
		for i := 0; i < 400 && !p.hasText("Item 1500"); i++ {
			p.do("scroll", p.tab.Scroll(p.ctx, "down"))
		}
		if !p.hasText("End of catalog") || p.page.Below != 0 || p.page.Above == 0 {
			p.t.Fatalf("scrolled to the end, the observation does not end the page: above %d below %d\n%s", p.page.Above, p.page.Below, dump(p.page))
		}
		p.do("add", p.tab.Click(p.ctx, p.id("button", "Add item 1500")))
		p.wantState("added", "1500")
		// A wheel turn with no sideways part (scroll(0, dy)).
		y := p.page.ScrollY
		p.do("wheel", p.tab.Wheel(p.ctx, 0, -2000))      // was a protocol error: a zero deltaX was left out
		for i := 0; i < 50 && p.page.ScrollY >= y; i++ { // the compositor scrolls in its own time
			time.Sleep(20 * time.Millisecond)
			p.settle()
		}
		if p.page.ScrollY >= y {
			p.t.Fatalf("wheel up 2000 px: scrollY %d → %d", y, p.page.ScrollY)
		}
		// The middle: the viewport's items are in the window.
		for i := 0; i < 400 && p.page.ScrollY > p.page.ScrollMax/2; i++ {
			p.do("scroll", p.tab.Scroll(p.ctx, "up"))
		}
		if p.page.Above == 0 || p.page.Below == 0 {
			p.t.Fatalf("halfway up: above %d below %d", p.page.Above, p.page.Below)
		}
		// The item at the viewport's middle is in the window.
		mid, err := eval[string](p.ctx, p.tab, `document.elementFromPoint(innerWidth/2, innerHeight/2).closest('li').firstChild.data.trim()`, false)
		if err != nil || !p.hasText(mid) {
			p.t.Fatalf("the viewport's middle (%q, %v) is not in the window (above %d)", mid, err, p.page.Above)
		}
		p.node("textbox", "Search catalog") // a sticky header is not the window's anchor, but the page's top is not lost either
	})

	run("downloads", func(p *policy) {
		// A download is no navigation: the step ends when the file is
		// saved (it took MaxSettle, 3 s, and said nothing), and the
		// session lists it; a click on a link that downloads waits for
		// the download to begin.
		p.open(site.a + "/downloads.html")
		p.tab.sess.TakeDownloads()
		for _, c := range []struct{ role, name, file, url string }{
			{"link", "Download invoice", "invoice-42.pdf", site.a + "/files/invoice.pdf"},
			{"link", "Export CSV", "data.csv", site.a + "/files/data.csv"},
			{"button", "Save report", "report.csv", "blob:"},
		} {
			p.do(c.name, p.tab.Click(p.ctx, p.id(c.role, c.name)))
			ds := p.tab.sess.TakeDownloads()
			if len(ds) != 1 || ds[0].Filename != c.file || ds[0].State != "completed" || ds[0].Bytes == 0 || !strings.HasPrefix(ds[0].URL, c.url) {
				p.t.Fatalf("%s: downloads %+v, want %s completed", c.name, ds, c.file)
			}
			if p.page.Title != "Billing" {
				p.t.Fatalf("%s: the page went away: %q", c.name, p.page.Title)
			}
		}
		// Too big: canceled, and nothing is left on disk.
		p.do("huge", p.tab.Navigate(p.ctx, site.a+"/files/huge.bin"))
		ds := p.tab.sess.TakeDownloads()
		if len(ds) != 1 || ds[0].State != "canceled" || ds[0].Bytes > MaxDownloadBytes+(8<<20) {
			p.t.Fatalf("a download past MaxDownloadBytes: %+v, want it canceled", ds)
		}
		if left, _ := os.ReadDir(p.tab.sess.dl.dir); len(left) != 0 {
			p.t.Fatalf("files left in the download folder: %v", left)
		}
		p.do("save again", p.tab.Click(p.ctx, p.id("button", "Save report")))
		if !p.hasText("Reports saved: 2") {
			p.t.Fatalf("the page's script no longer runs after its downloads:\n%s", dump(p.page))
		}
	})

	run("clipboard", func(p *policy) {
		// Each episode has a clipboard of its own: Chromium's is one for
		// the whole browser, so an episode (or another env) could paste
		// what this one copied.
		p.open(site.a + "/clipboard.html")
		value := func(label string) string {
			p.t.Helper()
			n := p.node("textbox", label)
			if n.Value == nil {
				return ""
			}
			return *n.Value
		}
		paste := func(into string) string {
			p.t.Helper()
			p.do("clear "+into, p.tab.Clear(p.ctx, p.id("textbox", into)))
			p.do("paste", p.tab.Press(p.ctx, "Control+v"))
			return value(into)
		}
		// Select and copy a field's text with the keyboard.
		p.do("focus", p.tab.Focus(p.ctx, p.id("textbox", "Invite code")))
		p.do("select", p.tab.Press(p.ctx, "Control+a"))
		p.do("copy", p.tab.Press(p.ctx, "Control+c"))
		if got := paste("Paste here"); got != "INV-7731" {
			p.t.Fatalf("pasted %q, want the copied invite code", got)
		}
		p.do("copy link", p.tab.Click(p.ctx, p.id("button", "Copy link")))
		if !p.hasText("Link copied") {
			p.t.Fatalf("navigator.clipboard.writeText after a click was refused:\n%s", dump(p.page))
		}
		if got := paste("Paste here"); got != "https://example.test/invite/7731" {
			p.t.Fatalf("pasted %q after the Copy link button", got)
		}
		p.do("copy coupon", p.tab.Click(p.ctx, p.id("button", "Copy coupon")))
		if got := paste("Paste here"); got != "SAVE20" {
			p.t.Fatalf("pasted %q after execCommand('copy') with the page's own copy data", got)
		}
		// Cut removes the selection and copies it.
		p.do("focus draft", p.tab.Focus(p.ctx, p.id("textbox", "Draft")))
		p.do("select", p.tab.Press(p.ctx, "Control+a"))
		p.do("cut", p.tab.Press(p.ctx, "Control+x"))
		if got := value("Draft"); got != "" {
			p.t.Fatalf("after a cut the field reads %q", got)
		}
		if got := paste("Paste here"); got != "remove me" {
			p.t.Fatalf("pasted %q after the cut", got)
		}
		// A field that takes over its paste gets the episode's text.
		if got := paste("Shout box"); got != "REMOVE ME" {
			p.t.Fatalf("the page's paste handler made %q", got)
		}
		// Another episode's context pastes nothing of this one.
		other := newTab(p.t, p.tab.m)
		q := &policy{t: p.t, ctx: p.ctx, tab: other}
		q.open(site.a + "/clipboard.html")
		q.do("focus", q.tab.Focus(q.ctx, q.id("textbox", "Paste here")))
		q.do("paste", q.tab.Press(q.ctx, "Control+v"))
		if n := q.node("textbox", "Paste here"); n.Value != nil && *n.Value != "" {
			p.t.Fatalf("another episode pasted %q from this one's clipboard", *n.Value)
		}
	})

	run("background loops", func(p *policy) {
		// Loops a page runs forever and a long poll do not hold every
		// step until MaxSettle (a setTimeout poll did, 3 s a step); the
		// action's own timer is still waited for.
		p.open(site.a + "/loops.html")
		settled := func(what string) {
			p.t.Helper()
			res, err := eval[settled](p.ctx, p.tab, "window.__egym.settle(8, 2500, 500)", true)
			if err != nil || res.S != "ok" {
				p.t.Fatalf("%s: the settle wait answered %q (%v), want ok: a background loop holds it", what, res.S, err)
			}
			p.page = *res.Page
		}
		settled("after load")
		p.do("save", p.tab.Click(p.ctx, p.id("button", "Save")))
		if !p.hasText("Saved") {
			p.t.Fatalf("the Save click's 50 ms timer was not waited for:\n%s", dump(p.page))
		}
		settled("after save")
		for i := 0; i < 3; i++ {
			p.do("log", p.tab.Click(p.ctx, p.id("button", "Log visit")))
		}
		settled("after posts to a worker that never answers")
	})

	run("websocket answers", func(p *policy) {
		// The answer to a message sent over a WebSocket is waited for.
		p.open(site.a + "/chat.html")
		for _, m := range []string{"hello", "where is my order"} {
			p.do("type", p.tab.Fill(p.ctx, p.id("textbox", "Message"), m))
			p.do("send", p.tab.Click(p.ctx, p.id("button", "Send")))
			if !p.hasText("bot: got " + m) {
				p.t.Fatalf("observed before the server's answer to %q:\n%s", m, dump(p.page))
			}
		}
	})

	run("dialogs in the page", func(p *policy) {
		// An open <dialog> or role=dialog shows as a dialog line before
		// its content, with modal when it blocks the rest of the page.
		dialog := func(name string) *Node {
			for i, n := range p.page.Nodes {
				if n.Role == "dialog" && n.Name == name {
					return &p.page.Nodes[i]
				}
			}
			return nil
		}
		p.open(site.a + "/modal.html")
		if n := dialog("Cookie settings"); n == nil || n.Modal {
			p.t.Fatalf("role=dialog: %+v, want a dialog line, not modal:\n%s", n, dump(p.page))
		}
		if dialog("Delete report.pdf?") != nil {
			p.t.Fatalf("a closed <dialog> is in the observation")
		}
		p.do("delete", p.tab.Click(p.ctx, p.id("button", "Delete report.pdf")))
		if n := dialog("Delete report.pdf?"); n == nil || !n.Modal {
			p.t.Fatalf("showModal()'s dialog: %+v, want a modal dialog line:\n%s", n, dump(p.page))
		}
		p.do("confirm", p.tab.Click(p.ctx, p.id("button", "Delete")))
		if !p.hasText("Deleted") {
			p.t.Fatalf("not deleted:\n%s", dump(p.page))
		}
	})

	run("scroll box and cover", func(p *policy) {
		p.open(site.a + "/scrollbox.html")
		p.do("confirm", p.tab.Click(p.ctx, p.id("button", "Confirm terms")))
		p.wantState("last", "confirmed")
		err := p.tab.Click(p.ctx, p.id("button", "Hidden under banner"))
		var ae *ActionError
		if !errors.As(err, &ae) || !strings.Contains(ae.Msg, "Cookie banner") {
			p.t.Fatalf("click under a banner: %v, want an error naming the banner", err)
		}
		p.settle()
		p.do("accept", p.tab.Click(p.ctx, p.id("button", "Accept cookies")))
		p.do("under", p.tab.Click(p.ctx, p.id("button", "Hidden under banner")))
		p.wantState("last", "under")
	})
}
