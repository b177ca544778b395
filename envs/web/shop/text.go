package shop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/gym"
)

// TextID is the browser-free shop: the same catalogue, instructions,
// pages and scoring as web/shop-v0, rendered straight into the web envs'
// observation text (what WebShop's text mode is to WebShop), at
// in-process speed. For the same seed and actions it gives the same
// observation text, valid actions, rewards and success as the Chromium
// shop (TestTextShopMatchesChromium); the Chromium shop stays the "real"
// env for final evaluation.
const TextID = "web/shop-text-v0"

// TextSpec is web/shop-text-v0's spec.
var TextSpec = gym.Spec{
	ID: TextID, Version: "0.1.0",
	Description: "The web/shop-v0 shop without a browser: search, browse result pages, open a product, choose options, buy. Same observations, valid actions and partial-credit reward as web/shop-v0 for the same seed and actions.",
	Tasks:       []gym.Task{{ID: "shop", Description: "buy the product that matches the instruction"}},
	MaxSteps:    30, ActionSpace: action.Grammar, Deterministic: true,
	ObservationSpace: "Text: Goal, URL, Title, optional 'Last action error', then one line per element: `[id] role \"name\" value=\"…\" selected focused` (links, buttons and the search box carry an id) and `text`/`heading` lines. ValidActions lists concrete actions; text entry is the template fill(id, \"<text>\").",
}

// RegisterText registers web/shop-text-v0 in r. Its instances share one
// catalogue (read-only once built), made on first use.
func RegisterText(r *gym.Registry) error {
	shop := sync.OnceValue(func() *Shop { return New(DefaultCatalogSeed, DefaultProducts) })
	return r.Register(TextSpec, func(context.Context, map[string]any) (gym.Env, error) {
		return NewTextEnv(shop()), nil
	})
}

// TextEnv is one web/shop-text-v0 instance: a tiny browser over the
// shop's pages, with a history whose entries keep their search box's text
// (go_back loads the page again and restores its form's text, as the
// headless shell does: it has no back-forward cache, so nothing is
// focused after going back) and the focused element.
type TextEnv struct {
	shop    *Shop
	in      Instruction
	seed    int64
	hist    []entry // visited pages; hist[cur] is shown
	cur     int
	page    textPage
	value   string // the search box's text on the current page
	focus   int    // the focused element's id (0: none); only a focused search box shows
	lastErr string
	started bool
	done    bool
}

// entry is a history entry: a page, and the search box's text when it
// was left.
type entry struct {
	url   string
	value string
}

// textPage is a rendered page: its title and elements in document order.
type textPage struct {
	url   *url.URL
	title string
	nodes []textNode
}

// textNode is one observation line; id 0 for non-interactive lines.
type textNode struct {
	id       int
	role     string
	name     string
	value    *string // the search box
	selected bool
	href     string // links
	submit   string // buttons: "search" or "buy"
}

// NewTextEnv returns an env over shop.
func NewTextEnv(shop *Shop) *TextEnv { return &TextEnv{shop: shop} }

// Spec is TextSpec.
func (e *TextEnv) Spec() gym.Spec { return TextSpec }

// Close ends the env.
func (e *TextEnv) Close() error { return nil }

// Reset starts the episode of opts.Seed on the shop's home page.
func (e *TextEnv) Reset(_ context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if opts.TaskID != "" && opts.TaskID != "shop" {
		return gym.Observation{}, fmt.Errorf("%w %q: %s has the one task \"shop\"", gym.ErrUnknownTask, opts.TaskID, TextID)
	}
	e.in, e.seed = e.shop.Instruction(opts.Seed), opts.Seed
	e.hist, e.cur = []entry{{url: "/shop/"}}, 0
	e.value, e.focus, e.lastErr, e.started, e.done = "", 0, "", true, false
	e.load("/shop/")
	return e.observation(nil), nil
}

// Step parses and runs one action.
func (e *TextEnv) Step(_ context.Context, act string) (gym.StepResult, error) {
	switch {
	case !e.started:
		return gym.StepResult{}, gym.ErrNotReset
	case e.done:
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	a, err := action.Parse(act)
	if err != nil {
		return e.invalid(err.Error()), nil
	}
	if why := e.precheck(a); why != "" {
		return e.invalid(why), nil
	}
	var info map[string]any
	var reward float64
	switch a.Kind {
	case action.Click:
		e.focus = a.ID
		reward, info = e.activate(e.node(a.ID))
	case action.Fill:
		e.value, e.focus = a.Text, a.ID
	case action.Press:
		// Enter submits from the search box and activates a focused link
		// or button, as in a browser.
		if n := e.node(e.focus); a.Text == "Enter" && n != nil {
			if n.role == "textbox" {
				e.navigate(searchURL(e.value))
			} else {
				reward, info = e.activate(n)
			}
		}
	case action.Goto:
		u, err := e.resolve(a.Text)
		if err != nil {
			return e.invalid(err.Error()), nil
		}
		if !strings.HasPrefix(u.Path, "/shop/") || u.Path == "/shop/start" {
			return e.invalid("goto: only the shop's own pages (/shop/...) are allowed"), nil
		}
		e.navigate(u.RequestURI())
	case action.GoBack:
		if e.cur == 0 {
			return e.invalid("go_back: there is no earlier page in this episode"), nil
		}
		e.hist[e.cur].value = e.value
		e.cur--
		e.load(e.hist[e.cur].url)
		e.value, e.focus = e.hist[e.cur].value, 0
	case action.GoForward:
		if e.cur+1 >= len(e.hist) {
			return e.invalid("go_forward: there is no later page; go_forward undoes a go_back"), nil
		}
		e.hist[e.cur].value = e.value
		e.cur++
		e.load(e.hist[e.cur].url)
		e.value, e.focus = e.hist[e.cur].value, 0
	case action.Answer:
		// The shop asks for a purchase, not an answer: an answer ends the
		// episode unsuccessfully (as on web/shop-v0).
		e.done = true
		info = map[string]any{gym.InfoSuccess: false}
	case action.Scroll, action.Hover, action.Noop:
		// The pages fit the viewport and nothing reacts to hovering.
	default:
		return e.invalid(fmt.Sprintf("%s: the shop has no dialogs or extra tabs", a.Kind)), nil
	}
	e.lastErr = ""
	return gym.StepResult{Observation: e.observation(info), Reward: reward, Terminated: e.done, Status: gym.StatusOK}, nil
}

// activate clicks n: follows a link, submits the search or buys.
func (e *TextEnv) activate(n *textNode) (float64, map[string]any) {
	switch {
	case n.href != "":
		e.navigate(n.href)
	case n.submit == "search":
		e.navigate(searchURL(e.value))
	case n.submit == "buy":
		return e.buy()
	}
	return 0, nil
}

// precheck rejects actions that name no element of the page, or the wrong
// kind of element, with web/shop-v0's messages.
func (e *TextEnv) precheck(a action.Action) string {
	switch a.Kind {
	case action.Click, action.Fill, action.Select, action.Check, action.Hover:
		n := e.node(a.ID)
		if n == nil {
			return fmt.Sprintf("there is no element [%d] in the current observation; use an id shown in [brackets]", a.ID)
		}
		switch {
		case a.Kind == action.Fill && n.role != "textbox":
			return fmt.Sprintf("[%d] is a %s, not a text field; fill works on textboxes, sliders and date/time/color inputs", a.ID, n.role)
		case a.Kind == action.Select:
			return fmt.Sprintf("[%d] is a %s, not a drop-down; select works on comboboxes and list boxes", a.ID, n.role)
		case a.Kind == action.Check:
			return fmt.Sprintf("[%d] is a %s, not a checkbox or radio; use click(%d)", a.ID, n.role, a.ID)
		}
	case action.Answer:
		if len(a.Text) > 2000 {
			return "the answer is too long (limit 2000 bytes)"
		}
	}
	return ""
}

func (e *TextEnv) node(id int) *textNode {
	for i := range e.page.nodes {
		if n := &e.page.nodes[i]; n.id == id && id != 0 {
			return n
		}
	}
	return nil
}

func (e *TextEnv) resolve(raw string) (*url.URL, error) {
	u, err := e.page.url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("goto: %q is not a URL: %v", raw, err)
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("goto: only http and https URLs are allowed, got %q", u.Scheme)
	}
	if u.Host != "" {
		return nil, errors.New("goto: only the shop's own pages (/shop/...) are allowed")
	}
	return u, nil
}

// navigate opens u as a browser does: a new history entry (replacing the
// current one when u is the same URL, as Chromium does), the search box
// empty and nothing focused.
func (e *TextEnv) navigate(u string) {
	if u == e.hist[e.cur].url {
		e.hist[e.cur] = entry{url: u}
	} else {
		e.hist[e.cur].value = e.value
		e.hist = append(e.hist[:e.cur+1], entry{url: u})
		e.cur++
	}
	e.value, e.focus = "", 0
	e.load(u)
}

// buy records the purchase of the product page's item with its chosen
// options, scores it and shows the order page.
func (e *TextEnv) buy() (float64, map[string]any) {
	id := path.Base(e.page.url.Path)
	q := e.page.url.Query()
	pu := Purchase{ProductID: id, Options: map[string]string{}}
	if p, ok := e.shop.byID[id]; ok {
		for _, n := range optionNames(p) {
			if v := q.Get(n); v != "" {
				pu.Options[n] = v
			}
		}
	}
	e.navigate("/shop/done")
	e.page = e.donePage(&pu)
	e.done = true
	sc := e.shop.Score(e.in, pu)
	return sc.Reward, map[string]any{gym.InfoSuccess: sc.Reward == 1, "score": sc}
}

// searchURL is the search form's GET submission of q.
func searchURL(q string) string { return "/shop/search?q=" + formEscape(q) }

// formEscape encodes s as Chromium encodes a form field
// (application/x-www-form-urlencoded: letters, digits and *-._ stay,
// space becomes +, the rest is %XX of its UTF-8 bytes).
func formEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// load renders the page at u (a path with its query).
func (e *TextEnv) load(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		u = &url.URL{Path: "/shop/"}
	}
	p := textPage{url: u}
	switch {
	case u.Path == "/shop/":
		p.title = "Shop"
		p.add(textNode{role: "heading", name: "Shop"})
		p.add(textNode{role: "textbox", name: "Search", value: &e.value})
		p.add(textNode{role: "button", name: "Search", submit: "search"})
	case u.Path == "/shop/search":
		e.results(&p, u.Query())
	case strings.HasPrefix(u.Path, "/shop/item/"):
		e.item(&p, path.Base(u.Path), u.Query())
	case u.Path == "/shop/done":
		p = e.donePage(nil)
	default:
		p.add(textNode{role: "text", name: "404 page not found"})
	}
	e.page = p
}

func (p *textPage) add(n textNode) {
	if n.role == "link" || n.role == "button" || n.role == "textbox" {
		last := 0
		for _, x := range p.nodes {
			last = max(last, x.id)
		}
		n.id = last + 1
	}
	n.name = strings.Join(strings.Fields(n.name), " ") // accessible names collapse white space
	p.nodes = append(p.nodes, n)
}

// results mirrors Shop.results.
func (e *TextEnv) results(p *textPage, form url.Values) {
	q := form.Get("q")
	pg, _ := strconv.Atoi(form.Get("page"))
	pg = max(pg, 1)
	hits := e.shop.Search(q)
	pages := max(1, (len(hits)+PageSize-1)/PageSize)
	pg = min(pg, pages)
	p.title = "Results"
	p.add(textNode{role: "link", name: "Back to search", href: "/shop/"})
	p.add(textNode{role: "heading", name: html.UnescapeString(fmt.Sprintf("Results for %q", html.EscapeString(q)))})
	p.add(textNode{role: "text", name: fmt.Sprintf("Page %d of %d (%d results)", pg, pages, len(hits))})
	for _, it := range hits[min(len(hits), (pg-1)*PageSize):min(len(hits), pg*PageSize)] {
		p.add(textNode{role: "link", name: fmt.Sprintf("%s %s — $%.2f", it.ID, it.Title, it.Price),
			href: "/shop/item/" + it.ID + "?" + url.Values{"q": {q}, "page": {strconv.Itoa(pg)}}.Encode()})
	}
	if pg > 1 {
		p.add(textNode{role: "link", name: "< Prev", href: "/shop/search?" + url.Values{"q": {q}, "page": {strconv.Itoa(pg - 1)}}.Encode()})
	}
	if pg < pages {
		p.add(textNode{role: "link", name: "Next >", href: "/shop/search?" + url.Values{"q": {q}, "page": {strconv.Itoa(pg + 1)}}.Encode()})
	}
}

// item mirrors Shop.item.
func (e *TextEnv) item(p *textPage, id string, q url.Values) {
	it, ok := e.shop.byID[id]
	if !ok {
		p.add(textNode{role: "text", name: "404 page not found"})
		return
	}
	p.title = it.Title
	back := url.Values{"q": {q.Get("q")}, "page": {q.Get("page")}}
	p.add(textNode{role: "link", name: "< Back to results", href: "/shop/search?" + back.Encode()})
	p.add(textNode{role: "heading", name: it.Title})
	p.add(textNode{role: "text", name: fmt.Sprintf("Price: $%.2f", it.Price)})
	p.add(textNode{role: "text", name: "Features: " + strings.Join(it.Attrs, ", ")})
	for _, n := range optionNames(it) {
		p.add(textNode{role: "text", name: n + ":"})
		for _, v := range it.Options[n] {
			link := url.Values{}
			for k, vs := range q {
				link[k] = slices.Clone(vs)
			}
			link.Set(n, v)
			p.add(textNode{role: "link", name: n + " " + v, selected: q.Get(n) == v,
				href: "/shop/item/" + it.ID + "?" + link.Encode()})
		}
	}
	p.add(textNode{role: "button", name: "Buy Now", submit: "buy"})
}

// donePage mirrors Shop.done for purchase pu (nil: none yet).
func (e *TextEnv) donePage(pu *Purchase) textPage {
	p := textPage{url: &url.URL{Path: "/shop/done"}, title: "Order placed"}
	if pu == nil {
		p.add(textNode{role: "heading", name: "No order yet"})
		return p
	}
	it, ok := e.shop.byID[pu.ProductID]
	if !ok {
		p.add(textNode{role: "heading", name: "No order yet"})
		return p
	}
	var opts []string
	for _, n := range optionNames(it) {
		if v, ok := pu.Options[n]; ok {
			opts = append(opts, n+": "+v)
		}
	}
	p.add(textNode{role: "heading", name: "Thank you for your order"})
	p.add(textNode{role: "text", name: fmt.Sprintf("%s (%s) — $%.2f", it.Title, strings.Join(opts, ", "), it.Price)})
	return p
}

// observation renders the web envs' observation text and valid actions.
func (e *TextEnv) observation(extra map[string]any) gym.Observation {
	var b strings.Builder
	fmt.Fprintf(&b, "Goal: %s\nURL: %s\nTitle: %s\n", e.in.Text, e.page.url.RequestURI(), e.page.title)
	if e.lastErr != "" {
		fmt.Fprintf(&b, "Last action error: %s\n", e.lastErr)
	}
	b.WriteByte('\n')
	var valid []string
	focused := false
	for _, n := range e.page.nodes {
		if n.id != 0 {
			fmt.Fprintf(&b, "[%d] ", n.id)
		}
		b.WriteString(n.role + " " + strconv.Quote(n.name))
		if n.value != nil {
			b.WriteString(" value=" + strconv.Quote(*n.value))
		}
		if n.selected {
			b.WriteString(" selected")
		}
		if n.role == "textbox" && e.focus == n.id {
			b.WriteString(" focused")
			focused = true
		}
		b.WriteByte('\n')
		switch {
		case n.role == "textbox":
			valid = append(valid, fmt.Sprintf("fill(%d, %s)", n.id, gym.Placeholder))
		case n.id != 0:
			valid = append(valid, fmt.Sprintf("click(%d)", n.id))
		}
	}
	if focused {
		valid = append(valid, `press("Enter")`)
	}
	valid = append(valid, "go_back()", "noop()")
	info := map[string]any{"task": "shop", "seed": e.seed, "url": e.page.url.RequestURI()}
	if e.lastErr != "" {
		info["last_action_error"] = e.lastErr
	}
	for k, v := range extra {
		info[k] = v
	}
	return gym.Observation{Text: b.String(), ValidActions: valid, Info: info}
}

func (e *TextEnv) invalid(why string) gym.StepResult {
	e.lastErr = why
	return gym.Invalid(e.observation(nil), why)
}

// ValidActions lists the current page's actions.
func (e *TextEnv) ValidActions(context.Context) ([]string, error) {
	if !e.started {
		return nil, gym.ErrNotReset
	}
	return e.observation(nil).ValidActions, nil
}

// Render shows the current observation text.
func (e *TextEnv) Render(context.Context) (string, error) {
	if !e.started {
		return "", gym.ErrNotReset
	}
	return e.observation(nil).Text, nil
}

// OracleAction is web/shop-v0's scripted solver on this env's page:
// search with the instruction's words, page to the target product, pick
// the required options, buy.
func (e *TextEnv) OracleAction(context.Context) (string, error) {
	if !e.started {
		return "", gym.ErrNotReset
	}
	find := func(role, name string) string {
		for _, n := range e.page.nodes {
			if n.id != 0 && n.role == role && n.name == name && !n.selected {
				return fmt.Sprintf("click(%d)", n.id)
			}
		}
		return ""
	}
	u := e.page.url
	switch {
	case u.Path == "/shop/done":
		return "noop()", nil
	case strings.HasPrefix(u.Path, "/shop/item/"):
		if path.Base(u.Path) != e.in.Target {
			return "go_back()", nil
		}
		names := make([]string, 0, len(e.in.Options))
		for n := range e.in.Options {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if a := find("link", n+" "+e.in.Options[n]); a != "" {
				return a, nil
			}
		}
		return cmp.Or(find("button", "Buy Now"), "noop()"), nil
	case u.Path == "/shop/search":
		for _, n := range e.page.nodes {
			if n.role == "link" && strings.HasPrefix(n.name, e.in.Target+" ") {
				return fmt.Sprintf("click(%d)", n.id), nil
			}
		}
		return cmp.Or(find("link", "Next >"), "go_back()"), nil
	}
	if u.Path != "/shop/" {
		return "noop()", nil
	}
	if e.value != e.in.Query {
		return fmt.Sprintf("fill(1, %s)", action.Quote(e.in.Query)), nil
	}
	return cmp.Or(find("button", "Search"), "noop()"), nil
}
