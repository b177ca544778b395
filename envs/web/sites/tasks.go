package sites

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
)

// Task is one MiniWoB-style task: a generator of seeded instances drawn
// by the page tasks.js[Name].
type Task struct {
	Name     string
	Desc     string
	MaxSteps int
	gen      func(r *rand.Rand) Instance
}

// Instance is one seeded variation of a task.
type Instance struct {
	Goal string // what the agent is asked to do
	Data any    // what the page draws (window.TASK)
	// Check reads the page's final state (window.__egState, written by the
	// page from its DOM when the user submits) and the agent's answer.
	Check func(s State, answer string) bool
	// Oracle returns the next action of a scripted solver, from what the
	// agent sees.
	Oracle func(p *browser.Page) string
	// AnswerTask: the episode ends with answer(...), not a page submit.
	AnswerTask bool
}

// State is the page's report, window.__egState.
type State map[string]any

// Done reports whether the page ended the episode.
func (s State) Done() bool { b, _ := s["done"].(bool); return b }

// Str reads a string field.
func (s State) Str(k string) string { v, _ := s[k].(string); return v }

// Bool reads a boolean field.
func (s State) Bool(k string) bool { v, _ := s[k].(bool); return v }

// Strs reads a list of strings.
func (s State) Strs(k string) []string {
	l, _ := s[k].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if str, ok := v.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// Instance draws the instance of seed.
func (t *Task) Instance(seed int64) Instance {
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	return t.gen(rand.New(rand.NewPCG(uint64(seed), h.Sum64())))
}

// Tasks lists the task suite, in a fixed order.
func Tasks() []*Task {
	return []*Task{
		{Name: "click-button", Desc: "click the button with a given label", MaxSteps: 10, gen: genClickButton},
		{Name: "click-link", Desc: "click a named link inside text", MaxSteps: 10, gen: genClickLink},
		{Name: "enter-text", Desc: "type a given text and submit", MaxSteps: 10, gen: genEnterText},
		{Name: "login-user", Desc: "log in with a username and password", MaxSteps: 10, gen: genLogin},
		{Name: "enter-password", Desc: "type a password twice and submit", MaxSteps: 10, gen: genPassword},
		{Name: "click-checkboxes", Desc: "tick exactly the named checkboxes", MaxSteps: 15, gen: genCheckboxes},
		{Name: "click-option", Desc: "pick a radio option", MaxSteps: 10, gen: genOption},
		{Name: "choose-list", Desc: "pick an item from a drop-down", MaxSteps: 10, gen: genChooseList},
		{Name: "form-fill", Desc: "fill a multi-field form", MaxSteps: 15, gen: genFormFill},
		{Name: "copy-text", Desc: "copy a paragraph into a field", MaxSteps: 10, gen: genCopyText},
		{Name: "press-enter", Desc: "type a query and press Enter", MaxSteps: 10, gen: genPressEnter},
		{Name: "choose-date", Desc: "pick a date in a calendar widget", MaxSteps: 20, gen: genChooseDate},
		{Name: "search-engine", Desc: "search and click the n-th result across pages", MaxSteps: 15, gen: genSearch},
		{Name: "email-inbox-forward", Desc: "forward an e-mail from the inbox", MaxSteps: 15, gen: genInbox},
		{Name: "navigate-menu", Desc: "open nested menus and pick an item", MaxSteps: 12, gen: genMenu},
		{Name: "book-flight", Desc: "search flights and book the cheapest", MaxSteps: 20, gen: genFlight},
		{Name: "sort-table", Desc: "sort a table by a column and direction", MaxSteps: 10, gen: genSortTable},
		{Name: "use-autocomplete", Desc: "pick a value from autocomplete suggestions", MaxSteps: 10, gen: genAutocomplete},
		{Name: "click-tab", Desc: "find a link hidden in one of several tabs", MaxSteps: 12, gen: genClickTab},
		{Name: "read-table", Desc: "read a table and answer a question", MaxSteps: 8, gen: genReadTable},
		{Name: "click-collapsible", Desc: "expand a section and click a button inside", MaxSteps: 10, gen: genCollapsible},
		{Name: "hover-reveal", Desc: "hover a card to reveal its button", MaxSteps: 10, gen: genHover},
		{Name: "todo-delete", Desc: "delete an item from a list and save", MaxSteps: 10, gen: genTodo},
		{Name: "click-dialog", Desc: "answer a dialog with the right button", MaxSteps: 8, gen: genDialog},
		{Name: "scroll-find", Desc: "find a button below a long text", MaxSteps: 10, gen: genScrollFind},
	}
}

var (
	words       = strings.Fields(`apple river stone cloud maple tiger ocean violet candle silver forest amber rocket velvet harbor meadow falcon copper lemon shadow garden crystal thunder willow pepper marble orbit lantern coral breeze ember glacier pixel saddle tundra nectar quartz prairie beacon sparrow`)
	names       = strings.Fields(`Alice Bob Carol David Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Yolanda`)
	cities      = strings.Fields(`Paris London Berlin Madrid Rome Vienna Prague Oslo Dublin Lisbon Athens Warsaw Zurich Boston Denver Austin Seattle Chicago Toronto Sydney`)
	countries   = strings.Split(`Argentina,Australia,Austria,Bangladesh,Belgium,Brazil,Bulgaria,Canada,Chile,China,Colombia,Croatia,Denmark,Egypt,Estonia,Finland,France,Germany,Greece,Hungary,Iceland,India,Indonesia,Ireland,Italy,Japan,Kenya,Latvia,Malaysia,Mexico,Morocco,Nepal,Netherlands,Norway,Pakistan,Peru,Poland,Portugal,Romania,Spain,Sweden,Switzerland,Thailand,Turkey,Uganda,Ukraine,Uruguay,Vietnam`, ",")
	buttonWords = strings.Fields(`Submit Cancel OK Yes No Next Previous Save Delete Edit Share Open Close Apply Reset Send Retry Accept Decline Continue`)
)

// pick draws n distinct items of l.
func pick(r *rand.Rand, l []string, n int) []string {
	idx := r.Perm(len(l))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = l[j]
	}
	return out
}

// Oracle helpers: find a node by role and name in what the agent sees.

func find(p *browser.Page, role, name string) *browser.Node {
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if n.ID != 0 && (role == "" || n.Role == role) && strings.EqualFold(strings.TrimSpace(n.Name), strings.TrimSpace(name)) {
			return n
		}
	}
	return nil
}

func findPrefix(p *browser.Page, role, prefix string) *browser.Node {
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if n.ID != 0 && (role == "" || n.Role == role) && strings.HasPrefix(n.Name, prefix) {
			return n
		}
	}
	return nil
}

func click(n *browser.Node) string {
	if n == nil {
		return "noop()"
	}
	return fmt.Sprintf("click(%d)", n.ID)
}

func fill(n *browser.Node, text string) string {
	if n == nil {
		return "noop()"
	}
	return fmt.Sprintf("fill(%d, %s)", n.ID, action.Quote(text))
}

func value(n *browser.Node) string {
	if n == nil || n.Value == nil {
		return ""
	}
	return *n.Value
}

// fillThen fills the fields in order where they differ, then clicks done.
func fillThen(p *browser.Page, fields [][2]string, done *browser.Node) string {
	for _, f := range fields {
		n := find(p, "textbox", f[0])
		if n == nil {
			return "noop()"
		}
		if value(n) != f[1] {
			return fill(n, f[1])
		}
	}
	return click(done)
}

func genClickButton(r *rand.Rand) Instance {
	labels := pick(r, buttonWords, 3+r.IntN(4))
	target := labels[r.IntN(len(labels))]
	return Instance{
		Goal:   fmt.Sprintf("Click on the %q button.", target),
		Data:   map[string]any{"buttons": labels},
		Check:  func(s State, _ string) bool { return s.Str("clicked") == target },
		Oracle: func(p *browser.Page) string { return click(find(p, "button", target)) },
	}
}

func genClickLink(r *rand.Rand) Instance {
	ws := pick(r, words, 14)
	links := []string{ws[2], ws[6], ws[9], ws[12]}
	target := links[r.IntN(len(links))]
	return Instance{
		Goal:   fmt.Sprintf("Click on the link %q.", target),
		Data:   map[string]any{"words": ws, "links": links},
		Check:  func(s State, _ string) bool { return s.Str("clicked") == target },
		Oracle: func(p *browser.Page) string { return click(find(p, "link", target)) },
	}
}

func genEnterText(r *rand.Rand) Instance {
	text := pick(r, words, 1)[0]
	if r.IntN(2) == 0 {
		text = strings.ToUpper(text[:1]) + text[1:] + " " + pick(r, words, 1)[0]
	}
	return Instance{
		Goal:  fmt.Sprintf("Enter %q into the text field and press Submit.", text),
		Data:  map[string]any{},
		Check: func(s State, _ string) bool { return s.Str("value") == text },
		Oracle: func(p *browser.Page) string {
			return fillThen(p, [][2]string{{"Text", text}}, find(p, "button", "Submit"))
		},
	}
}

func genLogin(r *rand.Rand) Instance {
	user := strings.ToLower(pick(r, names, 1)[0]) + strconv.Itoa(r.IntN(100))
	pass := pick(r, words, 1)[0] + strconv.Itoa(1000+r.IntN(9000))
	return Instance{
		Goal:  fmt.Sprintf("Enter the username %q and the password %q into the text fields and press Login.", user, pass),
		Data:  map[string]any{},
		Check: func(s State, _ string) bool { return s.Str("username") == user && s.Str("password") == pass },
		Oracle: func(p *browser.Page) string {
			return fillThen(p, [][2]string{{"Username", user}, {"Password", pass}}, find(p, "button", "Login"))
		},
	}
}

func genPassword(r *rand.Rand) Instance {
	pass := pick(r, words, 1)[0] + "-" + pick(r, words, 1)[0] + strconv.Itoa(r.IntN(100))
	return Instance{
		Goal:  fmt.Sprintf("Enter the password %q into both text fields and press Submit.", pass),
		Data:  map[string]any{},
		Check: func(s State, _ string) bool { return s.Str("password") == pass && s.Str("verify") == pass },
		Oracle: func(p *browser.Page) string {
			return fillThen(p, [][2]string{{"Password", pass}, {"Verify password", pass}}, find(p, "button", "Submit"))
		},
	}
}

func genCheckboxes(r *rand.Rand) Instance {
	items := pick(r, words, 4+r.IntN(3))
	want := pick(r, items, 1+r.IntN(3))
	goal := "Select " + strings.Join(want, ", ")
	if len(want) == 0 {
		goal = "Select nothing"
	}
	return Instance{
		Goal: goal + " and click Submit.",
		Data: map[string]any{"items": items},
		Check: func(s State, _ string) bool {
			got := s.Strs("checked")
			slices.Sort(got)
			w := slices.Clone(want)
			slices.Sort(w)
			return slices.Equal(got, w)
		},
		Oracle: func(p *browser.Page) string {
			for _, it := range items {
				n := find(p, "checkbox", it)
				if n == nil || n.Checked == nil {
					return "noop()"
				}
				if *n.Checked != slices.Contains(want, it) {
					return click(n)
				}
			}
			return click(find(p, "button", "Submit"))
		},
	}
}

func genOption(r *rand.Rand) Instance {
	items := pick(r, words, 3+r.IntN(3))
	target := items[r.IntN(len(items))]
	return Instance{
		Goal:  fmt.Sprintf("Select %s and click Submit.", target),
		Data:  map[string]any{"items": items},
		Check: func(s State, _ string) bool { return s.Str("value") == target },
		Oracle: func(p *browser.Page) string {
			if n := find(p, "radio", target); n != nil && n.Checked != nil && !*n.Checked {
				return fmt.Sprintf("check(%d)", n.ID)
			}
			return click(find(p, "button", "Submit"))
		},
	}
}

func genChooseList(r *rand.Rand) Instance {
	items := pick(r, countries, 6+r.IntN(8))
	slices.Sort(items)
	target := items[r.IntN(len(items))]
	return Instance{
		Goal:  fmt.Sprintf("Select %s from the list and click Submit.", target),
		Data:  map[string]any{"items": items},
		Check: func(s State, _ string) bool { return s.Str("value") == target },
		Oracle: func(p *browser.Page) string {
			n := find(p, "combobox", "Choose")
			if n != nil && value(n) != target {
				return fmt.Sprintf("select(%d, %s)", n.ID, action.Quote(target))
			}
			return click(find(p, "button", "Submit"))
		},
	}
}

func genFormFill(r *rand.Rand) Instance {
	first, last := pick(r, names, 1)[0], pick(r, names, 1)[0]+"son"
	email := strings.ToLower(first+"."+last) + "@example.com"
	cs := pick(r, countries, 6)
	country := cs[r.IntN(len(cs))]
	return Instance{
		Goal: fmt.Sprintf("Fill the form: first name %s, last name %s, email %s, country %s; agree to the terms and submit.", first, last, email, country),
		Data: map[string]any{"countries": cs},
		Check: func(s State, _ string) bool {
			return s.Str("first") == first && s.Str("last") == last && s.Str("email") == email && s.Str("country") == country && s.Bool("agree")
		},
		Oracle: func(p *browser.Page) string {
			for _, f := range [][2]string{{"First name", first}, {"Last name", last}, {"Email", email}} {
				if n := find(p, "textbox", f[0]); n != nil && value(n) != f[1] {
					return fill(n, f[1])
				}
			}
			if n := find(p, "combobox", "Country"); n != nil && value(n) != country {
				return fmt.Sprintf("select(%d, %s)", n.ID, action.Quote(country))
			}
			if n := find(p, "checkbox", "I agree to the terms"); n != nil && n.Checked != nil && !*n.Checked {
				return fmt.Sprintf("check(%d)", n.ID)
			}
			return click(find(p, "button", "Submit"))
		},
	}
}

func genCopyText(r *rand.Rand) Instance {
	text := strings.Join(pick(r, words, 3), " ")
	return Instance{
		Goal:  "Copy the text of the paragraph into the text field and press Submit.",
		Data:  map[string]any{"text": text},
		Check: func(s State, _ string) bool { return s.Str("value") == text },
		Oracle: func(p *browser.Page) string {
			return fillThen(p, [][2]string{{"Answer", text}}, find(p, "button", "Submit"))
		},
	}
}

func genPressEnter(r *rand.Rand) Instance {
	q := strings.Join(pick(r, words, 2), " ")
	return Instance{
		Goal:  fmt.Sprintf("Type %q into the search field and press Enter.", q),
		Data:  map[string]any{},
		Check: func(s State, _ string) bool { return s.Str("value") == q },
		Oracle: func(p *browser.Page) string {
			n := find(p, "textbox", "Search")
			if value(n) != q || !n.Focused {
				return fill(n, q)
			}
			return `press("Enter")`
		},
	}
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

func genChooseDate(r *rand.Rand) Instance {
	year, month := 2020+r.IntN(6), r.IntN(12)
	off := r.IntN(7) - 3
	tm := month + off
	ty := year
	for tm < 0 {
		tm += 12
		ty--
	}
	for tm > 11 {
		tm -= 12
		ty++
	}
	day := 1 + r.IntN(28)
	want := fmt.Sprintf("%02d/%02d/%d", tm+1, day, ty)
	return Instance{
		Goal:  fmt.Sprintf("Select %s as the date and hit Submit.", want),
		Data:  map[string]any{"year": year, "month": month},
		Check: func(s State, _ string) bool { return s.Str("date") == want },
		Oracle: func(p *browser.Page) string {
			if n := find(p, "textbox", "Date"); value(n) == want {
				return click(find(p, "button", "Submit"))
			}
			// The header reads "March 2024".
			cur := -1
			for _, n := range p.Nodes {
				f := strings.Fields(n.Name)
				if n.ID == 0 && len(f) == 2 {
					if m := slices.Index(monthNames, f[0]); m >= 0 {
						y, _ := strconv.Atoi(f[1])
						cur = y*12 + m
					}
				}
			}
			switch target := ty*12 + tm; {
			case cur < 0:
				return "noop()"
			case cur > target:
				return click(find(p, "button", "Prev"))
			case cur < target:
				return click(find(p, "button", "Next"))
			}
			return click(find(p, "button", strconv.Itoa(day)))
		},
	}
}

func genSearch(r *rand.Rand) Instance {
	q := pick(r, words, 1)[0]
	type result struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	}
	var res []result
	for i, w := range pick(r, words, 9) {
		res = append(res, result{Title: fmt.Sprintf("%s %s guide %d", strings.ToUpper(q[:1])+q[1:], w, i+1), URL: "https://www." + w + ".example/" + q})
	}
	n := 1 + r.IntN(len(res))
	target := res[n-1].Title
	return Instance{
		Goal: fmt.Sprintf("Use the search box to search for %q, then find and click the search result number %d.", q, n),
		Data: map[string]any{"results": res},
		Check: func(s State, _ string) bool {
			return strings.EqualFold(s.Str("query"), q) && s.Str("clicked") == target
		},
		Oracle: func(p *browser.Page) string {
			if l := find(p, "link", target); l != nil {
				return click(l)
			}
			if l := find(p, "link", fmt.Sprintf("Page %d", (n-1)/3+1)); l != nil {
				return click(l)
			}
			box := find(p, "textbox", "Search query")
			if value(box) != q {
				return fill(box, q)
			}
			return click(find(p, "button", "Search"))
		},
	}
}

func genInbox(r *rand.Rand) Instance {
	people := pick(r, names, 5)
	type email struct {
		From    string `json:"from"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	}
	var ems []email
	for _, p := range people[:4] {
		ems = append(ems, email{From: p, Subject: strings.Join(pick(r, words, 2), " "), Body: strings.Join(pick(r, words, 6), " ") + "."})
	}
	from, to := people[r.IntN(4)], people[4]
	return Instance{
		Goal: fmt.Sprintf("Find the email by %s and forward it to %s.", from, to),
		Data: map[string]any{"emails": ems},
		Check: func(s State, _ string) bool {
			return s.Str("action") == "forward" && s.Str("from") == from && s.Str("to") == to
		},
		Oracle: func(p *browser.Page) string {
			if to0 := find(p, "textbox", "To"); to0 != nil {
				if value(to0) != to {
					return fill(to0, to)
				}
				return click(find(p, "button", "Send"))
			}
			if f := find(p, "button", "Forward"); f != nil {
				return click(f)
			}
			return click(findPrefix(p, "button", "Email from "+from+":"))
		},
	}
}

type menuItem struct {
	Label    string     `json:"label"`
	Children []menuItem `json:"children,omitempty"`
}

func genMenu(r *rand.Rand) Instance {
	top := []string{"File", "Edit", "View", "Tools"}
	var menu []menuItem
	ws := pick(r, words, 28)
	k := 0
	for _, t := range top {
		it := menuItem{Label: t}
		for i := 0; i < 3; i++ {
			sub := menuItem{Label: strings.ToUpper(ws[k][:1]) + ws[k][1:]}
			k++
			if i < 2 {
				for j := 0; j < 2; j++ {
					sub.Children = append(sub.Children, menuItem{Label: ws[k]})
					k++
				}
			}
			it.Children = append(it.Children, sub)
		}
		menu = append(menu, it)
	}
	a := menu[r.IntN(4)]
	b := a.Children[r.IntN(2)]
	c := b.Children[r.IntN(2)]
	path := []string{a.Label, b.Label, c.Label}
	want := strings.Join(path, " > ")
	return Instance{
		Goal:  fmt.Sprintf("Use the menu to select %s.", want),
		Data:  map[string]any{"menu": menu},
		Check: func(s State, _ string) bool { return s.Str("path") == want },
		Oracle: func(p *browser.Page) string {
			if n := find(p, "menuitem", path[2]); n != nil {
				return click(n)
			}
			if n := find(p, "menuitem", path[1]+" ▸"); n != nil && n.Expanded != nil && !*n.Expanded {
				return click(n)
			}
			return click(find(p, "menuitem", path[0]+" ▸"))
		},
	}
}

func genFlight(r *rand.Rand) Instance {
	cs := pick(r, cities, 2)
	from, to := cs[0], cs[1]
	date := fmt.Sprintf("%02d/%02d/2026", 1+r.IntN(12), 1+r.IntN(28))
	type flight struct {
		Code     string `json:"code"`
		Depart   string `json:"depart"`
		Duration string `json:"duration"`
		Price    int    `json:"price"`
	}
	var fl []flight
	prices := r.Perm(400)[:5]
	cheapest := ""
	minP := 1 << 30
	for i, p := range prices {
		f := flight{Code: fmt.Sprintf("%c%c%d", 'A'+r.IntN(26), 'A'+r.IntN(26), 100+r.IntN(900)), Depart: fmt.Sprintf("%02d:%02d", 6+i*3, r.IntN(60)), Duration: fmt.Sprintf("%dh%02dm", 1+r.IntN(9), r.IntN(60)), Price: 80 + p}
		fl = append(fl, f)
		if f.Price < minP {
			minP, cheapest = f.Price, f.Code
		}
	}
	return Instance{
		Goal: fmt.Sprintf("Book the cheapest one-way flight from %s to %s on %s.", from, to, date),
		Data: map[string]any{"flights": fl},
		Check: func(s State, _ string) bool {
			return strings.EqualFold(s.Str("from"), from) && strings.EqualFold(s.Str("to"), to) && s.Str("date") == date && s.Str("flight") == cheapest
		},
		Oracle: func(p *browser.Page) string {
			// Pick the cheapest flight from the Book buttons' labels.
			var best *browser.Node
			bestP := 1 << 30
			for i := range p.Nodes {
				n := &p.Nodes[i]
				if n.Role == "button" && strings.HasPrefix(n.Name, "Book ") {
					if j := strings.LastIndex(n.Name, "$"); j >= 0 {
						if v, err := strconv.Atoi(n.Name[j+1:]); err == nil && v < bestP {
							best, bestP = n, v
						}
					}
				}
			}
			for _, f := range [][2]string{{"From", from}, {"To", to}, {"Date", date}} {
				if n := find(p, "textbox", f[0]); n != nil && value(n) != f[1] {
					return fill(n, f[1])
				}
			}
			if best != nil {
				return click(best)
			}
			return click(find(p, "button", "Search flights"))
		},
	}
}

func genSortTable(r *rand.Rand) Instance {
	cols := []string{"Name", "Age", "City", "Score"}
	var rows [][]any
	for i, n := range pick(r, names, 6) {
		rows = append(rows, []any{n, 20 + r.IntN(50), cities[(i*7+r.IntN(3))%len(cities)], r.IntN(1000)})
	}
	col := cols[r.IntN(len(cols))]
	dir := []string{"asc", "desc"}[r.IntN(2)]
	word := map[string]string{"asc": "ascending", "desc": "descending"}[dir]
	arrow := map[string]string{"asc": " ▲", "desc": " ▼"}[dir]
	return Instance{
		Goal:  fmt.Sprintf("Sort the table by %s in %s order, then click Submit.", col, word),
		Data:  map[string]any{"cols": cols, "rows": rows},
		Check: func(s State, _ string) bool { return s.Str("col") == col && s.Str("dir") == dir },
		Oracle: func(p *browser.Page) string {
			if find(p, "button", col+arrow) != nil {
				return click(find(p, "button", "Submit"))
			}
			return click(findPrefix(p, "button", col))
		},
	}
}

func genAutocomplete(r *rand.Rand) Instance {
	target := countries[r.IntN(len(countries))]
	return Instance{
		Goal:  fmt.Sprintf("Enter %s using the autocomplete suggestions and press Submit.", target),
		Data:  map[string]any{"items": countries},
		Check: func(s State, _ string) bool { return s.Str("value") == target },
		Oracle: func(p *browser.Page) string {
			box := find(p, "textbox", "Country")
			if value(box) == target {
				return click(find(p, "button", "Submit"))
			}
			if o := find(p, "option", target); o != nil {
				return click(o)
			}
			return fill(box, target[:3])
		},
	}
}

func genClickTab(r *rand.Rand) Instance {
	ws := pick(r, words, 9)
	tabs := [][]string{ws[0:3], ws[3:6], ws[6:9]}
	ti := r.IntN(3)
	target := tabs[ti][r.IntN(3)]
	return Instance{
		Goal:  fmt.Sprintf("Switch between the tabs to find and click on the link %q.", target),
		Data:  map[string]any{"tabs": tabs},
		Check: func(s State, _ string) bool { return s.Str("clicked") == target },
		Oracle: func(p *browser.Page) string {
			if l := find(p, "link", target); l != nil {
				return click(l)
			}
			return click(find(p, "tab", fmt.Sprintf("Tab #%d", ti+1)))
		},
	}
}

func genReadTable(r *rand.Rand) Instance {
	type person struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
		City string `json:"city"`
	}
	var ps []person
	for _, n := range pick(r, names, 5) {
		ps = append(ps, person{n, 18 + r.IntN(60), cities[r.IntN(len(cities))]})
	}
	who := ps[r.IntN(len(ps))]
	q, want := fmt.Sprintf("How old is %s?", who.Name), strconv.Itoa(who.Age)
	if r.IntN(2) == 0 {
		q, want = fmt.Sprintf("In which city does %s live?", who.Name), who.City
	}
	return Instance{
		Goal:       q + ` Reply with answer("...").`,
		Data:       map[string]any{"people": ps},
		AnswerTask: true,
		Check:      func(_ State, answer string) bool { return strings.EqualFold(strings.TrimSpace(answer), want) },
		Oracle:     func(*browser.Page) string { return "answer(" + action.Quote(want) + ")" },
	}
}

func genCollapsible(r *rand.Rand) Instance {
	type section struct {
		Title   string   `json:"title"`
		Buttons []string `json:"buttons"`
	}
	titles := pick(r, words, 3)
	var ss []section
	for _, t := range titles {
		ss = append(ss, section{Title: "Section " + t, Buttons: pick(r, buttonWords, 3)})
	}
	s := ss[r.IntN(3)]
	b := s.Buttons[r.IntN(3)]
	return Instance{
		Goal:  fmt.Sprintf("Expand %q and click the %q button inside it.", s.Title, b),
		Data:  map[string]any{"sections": ss},
		Check: func(st State, _ string) bool { return st.Str("section") == s.Title && st.Str("clicked") == b },
		Oracle: func(p *browser.Page) string {
			head := find(p, "button", s.Title)
			if head != nil && head.Expanded != nil && !*head.Expanded {
				return click(head)
			}
			// The section's buttons follow its header in the observation.
			after := false
			for i := range p.Nodes {
				n := &p.Nodes[i]
				if n == head {
					after = true
					continue
				}
				if after && n.Role == "button" && n.Name == b {
					return click(n)
				}
			}
			return "noop()"
		},
	}
}

func genHover(r *rand.Rand) Instance {
	cards := pick(r, words, 4)
	target := cards[r.IntN(4)]
	return Instance{
		Goal:  fmt.Sprintf("Hover over the card %q to reveal its button, then click that button.", target),
		Data:  map[string]any{"cards": cards},
		Check: func(s State, _ string) bool { return s.Str("opened") == target },
		Oracle: func(p *browser.Page) string {
			if b := find(p, "button", "Open "+target); b != nil {
				return click(b)
			}
			if c := find(p, "clickable", target); c != nil {
				return fmt.Sprintf("hover(%d)", c.ID)
			}
			return "noop()"
		},
	}
}

func genTodo(r *rand.Rand) Instance {
	items := pick(r, words, 5)
	target := items[r.IntN(5)]
	return Instance{
		Goal: fmt.Sprintf("Delete %q from the list and click Save.", target),
		Data: map[string]any{"items": items},
		Check: func(s State, _ string) bool {
			rem := s.Strs("remaining")
			return len(rem) == len(items)-1 && !slices.Contains(rem, target)
		},
		Oracle: func(p *browser.Page) string {
			if b := find(p, "button", "Delete "+target); b != nil {
				return click(b)
			}
			return click(find(p, "button", "Save"))
		},
	}
}

func genDialog(r *rand.Rand) Instance {
	topic := pick(r, words, 1)[0]
	yes := r.IntN(2) == 0
	want := map[bool]string{true: "Yes", false: "No"}[yes]
	verb := map[bool]string{true: "keep", false: "discard"}[yes]
	return Instance{
		Goal:   fmt.Sprintf("You want to %s the changes to %q. Answer the dialog accordingly.", verb, topic),
		Data:   map[string]any{"title": "Unsaved changes", "body": fmt.Sprintf("Keep your changes to %q?", topic), "buttons": []string{"Yes", "No", "Cancel"}},
		Check:  func(s State, _ string) bool { return s.Str("clicked") == want },
		Oracle: func(p *browser.Page) string { return click(find(p, "button", want)) },
	}
}

func genScrollFind(r *rand.Rand) Instance {
	var paras []string
	for i := 0; i < 25; i++ {
		paras = append(paras, strings.Join(pick(r, words, 12), " ")+".")
	}
	btn := "Claim " + pick(r, words, 1)[0]
	return Instance{
		Goal:   fmt.Sprintf("Find and click the %q button at the end of the text.", btn),
		Data:   map[string]any{"paras": paras, "button": btn},
		Check:  func(s State, _ string) bool { return s.Str("clicked") == btn },
		Oracle: func(p *browser.Page) string { return click(find(p, "button", btn)) },
	}
}
