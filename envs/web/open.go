package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/gym"
)

// ender is implemented by episodes that hold server state.
type ender interface{ end() }

// shopEpisode is one instruction of the shop, in its own server session.
type shopEpisode struct {
	shop   *shop.Shop
	sid    string
	seed   int64
	in     shop.Instruction
	start  string
	origin string
}

func (s *Suite) shopEpisodes(ctx context.Context, opts gym.ResetOptions) (episode, error) {
	if opts.TaskID != "" && opts.TaskID != "shop" {
		return nil, fmt.Errorf("%w %q: web/shop-v0 has the one task \"shop\"", gym.ErrUnknownTask, opts.TaskID)
	}
	srv, sh, err := s.server()
	if err != nil {
		return nil, err
	}
	var b [12]byte
	rand.Read(b[:])
	sid := hex.EncodeToString(b[:])
	in := sh.StartSession(sid, opts.Seed)
	return &shopEpisode{shop: sh, sid: sid, seed: opts.Seed, in: in, origin: srv.Origin(),
		start: srv.Origin() + "/shop/start?" + url.Values{"sess": {sid}, "seed": {strconv.FormatInt(opts.Seed, 10)}}.Encode()}, nil
}

func (e *shopEpisode) startURL() string { return e.start }
func (e *shopEpisode) goal() string     { return e.in.Text }
func (e *shopEpisode) answers() bool    { return false }
func (e *shopEpisode) end()             { e.shop.EndSession(e.sid) }
func (e *shopEpisode) info() map[string]any {
	return map[string]any{"task": "shop", "seed": e.seed}
}

func (e *shopEpisode) allowed(u *url.URL) error {
	if u.Scheme+"://"+u.Host != e.origin || !strings.HasPrefix(u.Path, "/shop/") || u.Path == "/shop/start" {
		return fmt.Errorf("goto: only the shop's own pages (/shop/...) are allowed")
	}
	return nil
}

func (e *shopEpisode) judge(_ context.Context, _ *browser.Tab, _ *browser.Page, answer *string) (verdict, error) {
	pu, ok := e.shop.Purchased(e.sid)
	if !ok {
		if answer != nil {
			return verdict{done: true, info: map[string]any{"success": false}}, nil
		}
		return verdict{}, nil
	}
	sc := e.shop.Score(e.in, pu)
	return verdict{reward: sc.Reward, done: true, info: map[string]any{"success": sc.Reward == 1, "score": sc}}, nil
}

// oracle searches with the instruction's words, pages through the
// results to the target product, picks the required options and buys.
func (e *shopEpisode) oracle(p *browser.Page) string {
	u, err := url.Parse(p.URL)
	if err != nil {
		return "noop()"
	}
	switch {
	case u.Path == "/shop/done":
		return "noop()"
	case strings.HasPrefix(u.Path, "/shop/item/"):
		if path.Base(u.Path) != e.in.Target {
			return "go_back()"
		}
		names := make([]string, 0, len(e.in.Options))
		for n := range e.in.Options {
			names = append(names, n)
		}
		slicesSort(names)
		for _, n := range names {
			if l := findNode(p, "link", n+" "+e.in.Options[n]); l != nil && !l.Selected {
				return fmt.Sprintf("click(%d)", l.ID)
			}
		}
		return clickNode(findNode(p, "button", "Buy Now"))
	case u.Path == "/shop/search":
		for i := range p.Nodes {
			if n := &p.Nodes[i]; n.Role == "link" && strings.HasPrefix(n.Name, e.in.Target+" ") {
				return fmt.Sprintf("click(%d)", n.ID)
			}
		}
		if l := findNode(p, "link", "Next >"); l != nil {
			return clickNode(l)
		}
		return "go_back()"
	}
	box := findNode(p, "textbox", "Search")
	if box == nil {
		return "noop()"
	}
	if box.Value == nil || *box.Value != e.in.Query {
		return fmt.Sprintf("fill(%d, %s)", box.ID, action.Quote(e.in.Query))
	}
	return clickNode(findNode(p, "button", "Search"))
}

func findNode(p *browser.Page, role, name string) *browser.Node {
	for i := range p.Nodes {
		if n := &p.Nodes[i]; n.ID != 0 && n.Role == role && n.Name == name {
			return n
		}
	}
	return nil
}

func clickNode(n *browser.Node) string {
	if n == nil {
		return "noop()"
	}
	return fmt.Sprintf("click(%d)", n.ID)
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// OpenTask is a user task on the user's own site, read from JSON.
type OpenTask struct {
	ID           string   `json:"id"`
	StartURL     string   `json:"start_url"`
	AllowedHosts []string `json:"allowed_hosts"` // host or host:port; "*.example.com" for subdomains
	Goal         string   `json:"goal"`
	// Validator is JavaScript run in the page after every step: an
	// expression, or a function body with return, giving true/false or a
	// reward in [0, 1]. The variable answer holds the agent's answer(...)
	// text, or null. A reward of 1 ends the episode as a success.
	Validator string `json:"validator"`
	// Oracle optionally lists the actions of a scripted solution.
	Oracle []string `json:"oracle,omitempty"`
}

// LoadOpenTasks reads a task file: one task object or an array of them.
func LoadOpenTasks(file string) ([]OpenTask, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("web: task file: %w", err)
	}
	return parseOpenTasks(b)
}

func parseOpenTasks(b []byte) ([]OpenTask, error) {
	var tasks []OpenTask
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		if err := json.Unmarshal(b, &tasks); err != nil {
			return nil, fmt.Errorf("web: task file: %w", err)
		}
	} else {
		var one OpenTask
		if err := json.Unmarshal(b, &one); err != nil {
			return nil, fmt.Errorf("web: task file: %w", err)
		}
		tasks = []OpenTask{one}
	}
	for i, t := range tasks {
		u, err := url.Parse(t.StartURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
			return nil, fmt.Errorf("web: task %d (%s): start_url %q must be an http(s) URL", i, t.ID, t.StartURL)
		case t.Validator == "":
			return nil, fmt.Errorf("web: task %d (%s): validator is required", i, t.ID)
		}
		if len(t.AllowedHosts) == 0 {
			tasks[i].AllowedHosts = []string{u.Host}
		}
		if t.ID == "" {
			tasks[i].ID = strconv.Itoa(i)
		}
	}
	return tasks, nil
}

// openTasks reads the tasks from "task" (inline object or array) or
// "task_file" in opts.
func openTasks(opts map[string]any) ([]OpenTask, bool, error) {
	if t, ok := opts["task"]; ok {
		b, err := json.Marshal(t)
		if err != nil {
			return nil, true, fmt.Errorf("web: task option: %w", err)
		}
		ts, err := parseOpenTasks(b)
		return ts, true, err
	}
	if f, ok := opts["task_file"].(string); ok {
		ts, err := LoadOpenTasks(f)
		return ts, true, err
	}
	return nil, false, nil
}

func (s *Suite) openFactory(spec gym.Spec) gym.Factory {
	return func(ctx context.Context, makeOpts map[string]any) (gym.Env, error) {
		base, _, err := openTasks(makeOpts)
		if err != nil {
			return nil, err
		}
		newEp := func(ctx context.Context, opts gym.ResetOptions) (episode, error) {
			tasks, given, err := openTasks(opts.Options)
			if err != nil {
				return nil, err
			}
			if !given {
				tasks = base
			}
			if len(tasks) == 0 {
				// No task of the user's: the built-in example, so that
				// the env works (and passes gym check) out of the box.
				srv, _, err := s.server()
				if err != nil {
					return nil, err
				}
				tasks = []OpenTask{exampleOpenTask(srv.Origin())}
			}
			t := tasks[0]
			if opts.TaskID != "" {
				found := false
				for _, c := range tasks {
					if c.ID == opts.TaskID {
						t, found = c, true
					}
				}
				if !found {
					return nil, fmt.Errorf("%w %q in the task file", gym.ErrUnknownTask, opts.TaskID)
				}
			}
			return &openEpisode{task: t}, nil
		}
		return &env{suite: s, spec: spec, newEp: newEp, maxObs: s.opts.MaxObsNodes}, nil
	}
}

type openEpisode struct {
	task OpenTask
	step int
}

func (o *openEpisode) startURL() string { return o.task.StartURL }
func (o *openEpisode) goal() string     { return o.task.Goal }
func (o *openEpisode) answers() bool    { return strings.Contains(o.task.Validator, "answer") }
func (o *openEpisode) info() map[string]any {
	return map[string]any{"task": o.task.ID}
}

func (o *openEpisode) allowed(u *url.URL) error {
	for _, h := range o.task.AllowedHosts {
		if strings.EqualFold(h, u.Host) || strings.EqualFold(h, u.Hostname()) ||
			strings.HasPrefix(h, "*.") && strings.HasSuffix(strings.ToLower(u.Hostname()), strings.ToLower(h[1:])) {
			return nil
		}
	}
	return fmt.Errorf("goto: host %q is not allowed for this task (allowed: %s)", u.Host, strings.Join(o.task.AllowedHosts, ", "))
}

func (o *openEpisode) oracle(*browser.Page) string {
	if o.step < len(o.task.Oracle) {
		o.step++
		return o.task.Oracle[o.step-1]
	}
	return "noop()"
}

func (o *openEpisode) judge(ctx context.Context, tab *browser.Tab, _ *browser.Page, answer *string) (verdict, error) {
	ans := "null"
	if answer != nil {
		b, _ := json.Marshal(*answer)
		ans = string(b)
	}
	body := o.task.Validator
	if !strings.Contains(body, "return") {
		body = "return (" + body + ");"
	}
	expr := "(async (answer) => { try { const r = await (async () => { " + body + "\n})(); return typeof r === 'number' ? r : (r ? 1 : 0); } catch (e) { return -1; } })(" + ans + ")"
	r, err := browser.Eval[float64](ctx, tab, expr)
	if err != nil {
		return verdict{}, fmt.Errorf("web: validator: %w", err)
	}
	v := verdict{info: map[string]any{}}
	if r < 0 {
		v.info["validator_error"] = true
		r = 0
	}
	v.reward = min(r, 1)
	if v.reward >= 1 || answer != nil {
		v.done = true
		v.info["success"] = v.reward >= 1
	} else {
		v.reward = 0 // reward only when the episode ends
	}
	return v, nil
}

// exampleOpenPage is the built-in open-web example site: a newsletter
// form served by the plugin itself.
const exampleOpenPage = `<!doctype html><html><head><title>Newsletter</title></head><body>
<h1>Newsletter</h1>
<form id="f"><label>Email <input id="email" type="email"></label> <button type="submit">Subscribe</button></form>
<p id="msg"></p>
<script>
document.getElementById('f').addEventListener('submit', e => {
  e.preventDefault();
  const v = document.getElementById('email').value;
  document.getElementById('msg').textContent = v.includes('@') ? 'Subscribed: ' + v : 'Please enter an email address';
  if (v.includes('@')) document.body.dataset.subscribed = v;
});
</script></body></html>`

// exampleOpenTask is what web/open-v0 plays when given no task: the shape
// of a user's task file, on the plugin's own example page.
func exampleOpenTask(origin string) OpenTask {
	u, _ := url.Parse(origin)
	return OpenTask{
		ID:           "example-newsletter",
		StartURL:     origin + "/open/example",
		AllowedHosts: []string{u.Host},
		Goal:         "Subscribe to the newsletter with the email ada@example.com.",
		Validator:    "return document.body.dataset.subscribed === 'ada@example.com'",
		Oracle:       []string{`fill(1, "ada@example.com")`, "click(2)"},
	}
}
