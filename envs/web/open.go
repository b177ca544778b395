package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/envs/web/sites"
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

func (e *shopEpisode) hosts() browser.Hosts { return originHosts(e.origin) }

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

// openTasks reads the tasks from "task" (inline object or array) or
// "task_file" in opts.
func openTasks(opts map[string]any) ([]sites.UserTask, bool, error) {
	if t, ok := opts["task"]; ok {
		b, err := json.Marshal(t)
		if err != nil {
			return nil, true, fmt.Errorf("web: option task: %w", err)
		}
		ts, err := sites.ParseUserTasks("option task", b)
		if err != nil {
			return nil, true, fmt.Errorf("web: %w", err)
		}
		return ts, true, nil
	}
	if v, ok := opts["task_file"]; ok {
		f, isStr := v.(string)
		if !isStr || f == "" {
			return nil, true, fmt.Errorf("web: option task_file: expected a file name, got %v", v)
		}
		ts, err := sites.LoadUserTasks(f)
		if err != nil {
			return nil, true, fmt.Errorf("web: option task_file: %w", err)
		}
		return ts, true, nil
	}
	return nil, false, nil
}

// optionHosts reads the "allowed_hosts" option: hosts every task of the
// env may reach besides its own (the plugin host forwards exactly these
// into the plugin's sandbox).
func optionHosts(opts map[string]any) (browser.Hosts, error) {
	v, ok := opts["allowed_hosts"]
	if !ok {
		return nil, nil
	}
	var list []string
	switch x := v.(type) {
	case string:
		list = []string{x}
	case []string:
		list = x
	case []any:
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("web: option allowed_hosts[%d]: expected a string, got %v", i, e)
			}
			list = append(list, s)
		}
	default:
		return nil, fmt.Errorf("web: option allowed_hosts: expected a list of hosts, got %v", v)
	}
	h, err := browser.ParseHosts("allowed_hosts", list)
	if err != nil {
		return nil, fmt.Errorf("web: option %w", err)
	}
	return h, nil
}

func (s *Suite) openFactory(spec gym.Spec) gym.Factory {
	return func(ctx context.Context, makeOpts map[string]any) (gym.Env, error) {
		base, _, err := openTasks(makeOpts)
		if err != nil {
			return nil, err
		}
		baseHosts, err := optionHosts(makeOpts)
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
			extra := baseHosts
			if h, err := optionHosts(opts.Options); err != nil {
				return nil, err
			} else if h != nil {
				extra = h
			}
			if len(tasks) == 0 {
				// No task of the user's: the built-in example, so that
				// the env works (and passes gym check) out of the box.
				srv, _, err := s.server()
				if err != nil {
					return nil, err
				}
				tasks = []sites.UserTask{exampleOpenTask(srv.Origin())}
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
			own, err := browser.ParseHosts("allowed_hosts", t.AllowedHosts)
			if err != nil {
				return nil, fmt.Errorf("web: task %s: %w", t.ID, err)
			}
			return &openEpisode{task: t, policy: append(own, extra...), goalText: t.Goal}, nil
		}
		e := s.newEnv(spec, newEp)
		// Tasks given at make time decide; the built-in example has an
		// oracle, and so may a task given only at reset.
		e.noOracle = len(base) > 0 && !slices.ContainsFunc(base, func(t sites.UserTask) bool { return len(t.Oracle) > 0 })
		return e, nil
	}
}

// openEpisode is one episode of a user's task.
type openEpisode struct {
	task     sites.UserTask
	policy   browser.Hosts
	goalText string
	step     int
}

func (o *openEpisode) startURL() string     { return o.task.StartURL }
func (o *openEpisode) goal() string         { return o.goalText }
func (o *openEpisode) answers() bool        { return strings.Contains(o.task.Validator, "answer") }
func (o *openEpisode) hosts() browser.Hosts { return o.policy }
func (o *openEpisode) info() map[string]any {
	return map[string]any{"task": o.task.ID}
}

func (o *openEpisode) grants() (string, []string) {
	u, err := url.Parse(o.task.StartURL)
	if err != nil {
		return "", nil
	}
	return u.Scheme + "://" + u.Host, o.task.Permissions
}

func (o *openEpisode) allowed(u *url.URL) error {
	if o.policy.AllowsURL(u) {
		return nil
	}
	return fmt.Errorf("goto: host %q is not allowed for this task (allowed_hosts: %s)", u.Host, strings.Join(o.policy, ", "))
}

// start runs the task's setup_js with the seed, then reads its goal_js.
func (o *openEpisode) start(ctx context.Context, tab *browser.Tab, seed int64) error {
	if strings.TrimSpace(o.task.SetupJS) != "" {
		if _, err := browser.Eval[any](ctx, tab, o.task.SetupExpr(seed)); err != nil && !errors.Is(err, browser.ErrDialog) {
			return fmt.Errorf("task %s: setup_js: %w", o.task.ID, err)
		}
		if err := tab.Settle(ctx); err != nil && !errors.Is(err, browser.ErrDialog) {
			return err
		}
	}
	if strings.TrimSpace(o.task.GoalJS) != "" {
		g, err := browser.Eval[string](ctx, tab, o.task.GoalExpr())
		if err != nil {
			return fmt.Errorf("task %s: goal_js: %w", o.task.ID, err)
		}
		if g != "" {
			o.goalText = g
		}
	}
	return nil
}

func (o *openEpisode) oracle(*browser.Page) string {
	if o.step < len(o.task.Oracle) {
		o.step++
		return o.task.Oracle[o.step-1]
	}
	return "noop()"
}

// judge runs the validator (and done_js) in the page. A snippet that
// throws is the task author's problem, reported in info, not a failure of
// the step.
func (o *openEpisode) judge(ctx context.Context, tab *browser.Tab, _ *browser.Page, answer *string) (verdict, error) {
	ans := "null"
	if answer != nil {
		b, _ := json.Marshal(*answer)
		ans = string(b)
	}
	r, err := browser.Eval[sites.Verdict](ctx, tab, o.task.JudgeExpr(ans))
	if err != nil {
		return verdict{}, fmt.Errorf("web: validator: %w", err)
	}
	v := verdict{info: map[string]any{}}
	if r.Error != "" {
		v.info["validator_error"] = r.Error
	}
	if r.Message != "" {
		v.info["message"] = r.Message
	}
	if r.Done || answer != nil {
		v.done, v.reward = true, r.Reward
		v.info["success"] = r.Reward >= 1
		if r.By != "" {
			v.info["done_by"] = r.By
		}
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
func exampleOpenTask(origin string) sites.UserTask {
	u, _ := url.Parse(origin)
	return sites.UserTask{
		ID:           "example-newsletter",
		StartURL:     origin + "/open/example",
		AllowedHosts: []string{u.Host},
		Goal:         "Subscribe to the newsletter with the email ada@example.com.",
		Validator:    "return document.body.dataset.subscribed === 'ada@example.com'",
		Oracle:       []string{`fill(1, "ada@example.com")`, "click(2)"},
	}
}
