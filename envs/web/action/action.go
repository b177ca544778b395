// Package action parses the action strings of the web envs into typed
// values. Parsing needs no browser, so a malformed action is rejected before
// the page is touched.
package action

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind names an action.
type Kind string

// The action kinds, by the name the agent writes.
const (
	Click  Kind = "click"
	Fill   Kind = "fill"
	Select Kind = "select"
	Check  Kind = "check"
	Hover  Kind = "hover"
	Press  Kind = "press"
	Scroll Kind = "scroll"
	Goto   Kind = "goto"
	GoBack Kind = "go_back"
	// GoForward undoes a go_back (BrowserGym's go_forward).
	GoForward Kind = "go_forward"
	Noop      Kind = "noop"
	Answer    Kind = "answer"

	AcceptDialog  Kind = "accept_dialog"  // OK on alert/confirm/beforeunload; a prompt takes optional text
	DismissDialog Kind = "dismiss_dialog" // Cancel
	TabFocus      Kind = "tab_focus"      // 0-based index in the Tabs: line
	TabClose      Kind = "tab_close"      // the active tab
	NewTab        Kind = "new_tab"        // opens a URL of an allowed host
)

// Element, pointer and keyboard actions beyond the basics. BrowserGym's
// names for the same actions are accepted too (aliases).
const (
	DblClick      Kind = "dblclick"
	Clear         Kind = "clear"
	Focus         Kind = "focus"
	Uncheck       Kind = "uncheck"
	Drag          Kind = "drag"           // drag(from_id, to_id)
	Upload        Kind = "upload"         // a file (or a list) from the task's folder
	MouseClick    Kind = "mouse_click"    // at viewport coordinates (CSS pixels)
	MouseDblClick Kind = "mouse_dblclick" // at viewport coordinates
	MouseMove     Kind = "mouse_move"
	MouseDown     Kind = "mouse_down"
	MouseUp       Kind = "mouse_up"
	MouseDrag     Kind = "mouse_drag"           // mouse_drag(x1, y1, x2, y2)
	KeyboardType  Kind = "keyboard_type"        // key by key into the focused element
	KeyboardPaste Kind = "keyboard_insert_text" // at once, as an IME or a paste would
)

// aliases are BrowserGym's action names where they mean the same as ours.
var aliases = map[string]Kind{
	"select_option":       Select,
	"drag_and_drop":       Drag,
	"upload_file":         Upload,
	"send_msg_to_user":    Answer,
	"keyboard_press":      Press,
	"mouse_drag_and_drop": MouseDrag,
}

// Action is one parsed action. Only the fields its Kind uses are set.
type Action struct {
	Kind Kind
	ID   int    // element id for click, fill, select, check, hover
	Text string // text for fill, option for select, key for press, url for goto, answer text
	Dir  string // "up" or "down" for scroll
	// HasText tells an optional string argument given (even empty) from
	// one left out, e.g. accept_dialog("") from accept_dialog().
	HasText bool
	// To is the target id of drag.
	To int
	// X, Y (and X2, Y2 for mouse_drag) are viewport coordinates of the
	// mouse actions; X, Y are the pixels of scroll(dx, dy).
	X, Y, X2, Y2 float64
	// Ms is noop's wait in milliseconds.
	Ms int
	// List marks a list argument (select_option's options, upload's
	// files); Strings gives its items, which Text holds NUL-separated so
	// that an Action stays comparable.
	List bool
	// Button is the mouse button of a click: "" (left), "middle" or
	// "right" (BrowserGym's button=).
	Button string
	// Mods are the modifier keys held during a click (BrowserGym's
	// modifiers=), as bits ModAlt|ModControl|ModMeta|ModShift.
	Mods int
}

// Modifier bits of Action.Mods, as the DevTools protocol numbers them.
const (
	ModAlt     = 1
	ModControl = 2
	ModMeta    = 4
	ModShift   = 8
)

// modNames are the modifier names in their canonical order; BrowserGym's
// ControlOrMeta is Control here (the browser runs on Linux).
var modNames = []struct {
	name string
	bit  int
}{{"Alt", ModAlt}, {"Control", ModControl}, {"Meta", ModMeta}, {"Shift", ModShift}}

// Strings is the items of a list argument, or Text alone.
func (a Action) Strings() []string {
	if !a.List {
		return []string{a.Text}
	}
	if a.Text == "" {
		return nil
	}
	return strings.Split(a.Text, "\x00")
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// String writes the action back in its canonical form; Parse(a.String())
// gives a again.
func (a Action) String() string {
	s := a.positional()
	if a.Button == "" && a.Mods == 0 {
		return s
	}
	var kw strings.Builder
	if a.Button != "" {
		fmt.Fprintf(&kw, ", button=%s", Quote(a.Button))
	}
	if a.Mods != 0 {
		var names []string
		for _, m := range modNames {
			if a.Mods&m.bit != 0 {
				names = append(names, m.name)
			}
		}
		fmt.Fprintf(&kw, ", modifiers=%s", quoteList(names))
	}
	return strings.TrimSuffix(s, ")") + kw.String() + ")"
}

func (a Action) positional() string {
	switch a.Kind {
	case Click, Check, Hover:
		return fmt.Sprintf("%s(%d)", a.Kind, a.ID)
	case Fill, Select:
		if a.List {
			return fmt.Sprintf("%s(%d, %s)", a.Kind, a.ID, quoteList(a.Strings()))
		}
		return fmt.Sprintf("%s(%d, %s)", a.Kind, a.ID, Quote(a.Text))
	case Press:
		if a.ID != 0 {
			return fmt.Sprintf("press(%d, %s)", a.ID, Quote(a.Text))
		}
		return fmt.Sprintf("press(%s)", Quote(a.Text))
	case Goto, Answer, NewTab:
		return fmt.Sprintf("%s(%s)", a.Kind, Quote(a.Text))
	case AcceptDialog:
		if a.HasText {
			return fmt.Sprintf("%s(%s)", a.Kind, Quote(a.Text))
		}
		return string(a.Kind) + "()"
	case TabFocus:
		return fmt.Sprintf("%s(%d)", a.Kind, a.ID)
	case Scroll:
		if a.Dir == "" {
			return fmt.Sprintf("scroll(%s, %s)", num(a.X), num(a.Y))
		}
		return fmt.Sprintf("scroll(%s)", a.Dir)
	case DblClick, Clear, Focus, Uncheck:
		return fmt.Sprintf("%s(%d)", a.Kind, a.ID)
	case Drag:
		return fmt.Sprintf("drag(%d, %d)", a.ID, a.To)
	case Upload:
		if a.List {
			return fmt.Sprintf("upload(%d, %s)", a.ID, quoteList(a.Strings()))
		}
		return fmt.Sprintf("upload(%d, %s)", a.ID, Quote(a.Text))
	case MouseClick, MouseDblClick, MouseMove, MouseDown, MouseUp:
		return fmt.Sprintf("%s(%s, %s)", a.Kind, num(a.X), num(a.Y))
	case MouseDrag:
		return fmt.Sprintf("mouse_drag(%s, %s, %s, %s)", num(a.X), num(a.Y), num(a.X2), num(a.Y2))
	case KeyboardType, KeyboardPaste:
		return fmt.Sprintf("%s(%s)", a.Kind, Quote(a.Text))
	case Noop:
		if a.Ms > 0 {
			return fmt.Sprintf("noop(%d)", a.Ms)
		}
		return "noop()"
	default:
		return string(a.Kind) + "()"
	}
}

// Quote writes s as a double-quoted action argument.
func Quote(s string) string { return strconv.Quote(s) }

// Grammar is the action space, for specs and prompts.
const Grammar = `click(id) | fill(id, "text") | select(id, "option") | check(id) | hover(id) | press("Enter") | scroll(up|down) | goto("url") | go_back() | go_forward() | noop() | answer("text") | accept_dialog() | accept_dialog("prompt text") | dismiss_dialog() | tab_focus(i) | tab_close() | new_tab("url")
dblclick(id) | clear(id) | focus(id) | uncheck(id) | drag(from_id, to_id) | upload(id, "file") | mouse_click(x, y) | mouse_dblclick(x, y) | mouse_move(x, y) | mouse_down(x, y) | mouse_up(x, y) | mouse_drag(x1, y1, x2, y2) | keyboard_type("text") | keyboard_insert_text("text")
id is the number in [brackets] in the observation; x, y are viewport pixels (see box=[x,y,w,h]); strings are double-quoted with Go/JSON escapes (\" \\ \n \uXXXX).
Also: click and dblclick take button="right"|"middle" and modifiers=["Control", "Shift"] (Alt, Meta too), mouse_click and mouse_dblclick take button=; select and upload take a list ["a", "b"]; press takes modifiers ("Control+a") and an id before the key to focus it first; scroll takes pixels dx, dy instead of up|down; noop takes milliseconds to wait; BrowserGym's names select_option, drag_and_drop, upload_file, send_msg_to_user, keyboard_press and mouse_drag_and_drop are accepted.`

// argKind is the type of one argument.
type argKind int

const (
	argID argKind = iota
	argString
	argDir
	argOptString // a string that may be left out
	argIndex     // a 0-based number (tab index)
	argNum       // a number (coordinates, pixels)
	argOptNum    // a number that may be left out
	argStrings   // a string or a list of strings ["a", "b"]
)

// variants are other argument lists an action takes, chosen when what
// follows '(' fits: BrowserGym's press(id, "key") and scroll(dx, dy).
var variants = map[Kind]struct {
	when func(p *parser) bool
	sig  []argKind
}{
	Press:  {func(p *parser) bool { return p.idThenComma() }, []argKind{argID, argString}},
	Scroll: {func(p *parser) bool { return p.numberAhead() }, []argKind{argNum, argNum}},
}

var signatures = map[Kind][]argKind{
	Click:     {argID},
	Fill:      {argID, argString},
	Select:    {argID, argStrings},
	Check:     {argID},
	Hover:     {argID},
	Press:     {argString},
	Scroll:    {argDir},
	Goto:      {argString},
	GoBack:    {},
	GoForward: {},
	Noop:      {},
	Answer:    {argString},

	AcceptDialog:  {argOptString},
	DismissDialog: {},
	TabFocus:      {argIndex},
	TabClose:      {},
	NewTab:        {argString},

	DblClick:      {argID},
	Clear:         {argID},
	Focus:         {argID},
	Uncheck:       {argID},
	Drag:          {argID, argID},
	Upload:        {argID, argStrings},
	MouseClick:    {argNum, argNum},
	MouseDblClick: {argNum, argNum},
	MouseMove:     {argNum, argNum},
	MouseDown:     {argNum, argNum},
	MouseUp:       {argNum, argNum},
	MouseDrag:     {argNum, argNum, argNum, argNum},
	KeyboardType:  {argString},
	KeyboardPaste: {argString},
}

var usage = map[Kind]string{
	Click:     `click(12) or click(12, button="right", modifiers=["Control"])`,
	Fill:      `fill(13, "some text")`,
	Select:    `select(14, "Option label")`,
	Check:     `check(15)`,
	Hover:     `hover(16)`,
	Press:     `press("Enter")`,
	Scroll:    `scroll(down)`,
	Goto:      `goto("http://host/path")`,
	GoBack:    `go_back()`,
	GoForward: `go_forward()`,
	Noop:      `noop()`,
	Answer:    `answer("the answer")`,

	AcceptDialog:  `accept_dialog() or accept_dialog("prompt text")`,
	DismissDialog: `dismiss_dialog()`,
	TabFocus:      `tab_focus(1)`,
	TabClose:      `tab_close()`,
	NewTab:        `new_tab("http://host/path")`,

	DblClick:      `dblclick(12) or dblclick(12, modifiers=["Shift"])`,
	Clear:         `clear(13)`,
	Focus:         `focus(13)`,
	Uncheck:       `uncheck(15)`,
	Drag:          `drag(12, 14) (drag element 12 onto element 14)`,
	Upload:        `upload(16, "report.pdf") or upload(16, ["a.png", "b.png"])`,
	MouseClick:    `mouse_click(120, 340) or mouse_click(120, 340, button="right")`,
	MouseDblClick: `mouse_dblclick(120, 340)`,
	MouseMove:     `mouse_move(120, 340)`,
	MouseDown:     `mouse_down(120, 340)`,
	MouseUp:       `mouse_up(220, 340)`,
	MouseDrag:     `mouse_drag(120, 340, 220, 340)`,
	KeyboardType:  `keyboard_type("hello")`,
	KeyboardPaste: `keyboard_insert_text("hello")`,
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("malformed action")

// maxLen bounds an action string; longer ones are surely garbage.
const maxLen = 8192

// Parse parses one action string such as `fill(13, "Alice")`. Surrounding
// whitespace and a trailing semicolon are ignored. Errors wrap ErrSyntax and
// say what was expected, so an agent can correct itself.
func Parse(s string) (Action, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	if s == "" {
		return Action{}, fmt.Errorf("%w: empty action; expected one of %s", ErrSyntax, Grammar)
	}
	if len(s) > maxLen {
		return Action{}, fmt.Errorf("%w: action is %d bytes long (limit %d)", ErrSyntax, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return Action{}, fmt.Errorf("%w: action is not valid UTF-8", ErrSyntax)
	}
	p := &parser{s: s}
	name := p.ident()
	if name == "" {
		return Action{}, fmt.Errorf("%w: %q does not start with an action name; expected e.g. click(12)", ErrSyntax, short(s))
	}
	kind := Kind(name)
	if k, ok := aliases[name]; ok {
		kind = k
	}
	sig, ok := signatures[kind]
	if !ok {
		return Action{}, fmt.Errorf("%w: unknown action %q; known actions: %s", ErrSyntax, name, knownNames())
	}
	p.space()
	if !p.eat('(') {
		return Action{}, fmt.Errorf("%w: expected '(' after %s; usage: %s", ErrSyntax, name, usage[kind])
	}
	a := Action{Kind: kind}
	p.space()
	if v, ok := variants[kind]; ok && v.when(p) {
		sig = v.sig
	}
	if kind == Noop {
		sig = []argKind{argOptNum}
	}
	ids, nums := 0, 0
	for i, ak := range sig {
		p.space()
		if (ak == argOptString || ak == argOptNum) && p.peek() == ')' {
			break
		}
		if i > 0 {
			if !p.eat(',') {
				return Action{}, fmt.Errorf("%w: %s takes %d arguments, expected ',' at offset %d; usage: %s", ErrSyntax, name, len(sig), p.i, usage[kind])
			}
			p.space()
		}
		if p.keywordAhead() {
			return Action{}, fmt.Errorf("%w: %s: keyword arguments are not supported; give the arguments in order; usage: %s", ErrSyntax, name, usage[kind])
		}
		switch ak {
		case argID:
			id, err := p.id()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
			}
			if ids == 0 {
				a.ID = id
			} else {
				a.To = id
			}
			ids++
		case argNum, argOptNum:
			f, err := p.number()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
			}
			if kind == Noop {
				if f < 0 || f > maxWaitMs {
					return Action{}, fmt.Errorf("%w: noop waits 0 to %d ms, got %s", ErrSyntax, maxWaitMs, num(f))
				}
				a.Ms = int(f)
				break
			}
			*[]*float64{&a.X, &a.Y, &a.X2, &a.Y2}[nums] = f
			nums++
		case argStrings:
			if p.peek() == '[' {
				items, err := p.list()
				if err != nil {
					return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
				}
				a.Text, a.List = strings.Join(items, "\x00"), true
				break
			}
			str, err := p.str()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
			}
			a.Text = str
		case argString, argOptString:
			str, err := p.str()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
			}
			a.Text, a.HasText = str, ak == argOptString
		case argIndex:
			n, err := p.id()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: expected a tab number from the Tabs: line; usage: %s", ErrSyntax, name, i+1, usage[kind])
			}
			a.ID = n
		case argDir:
			d := p.ident()
			if d == "" && p.peek() == '"' { // tolerate scroll("down")
				d, _ = p.str()
			}
			if d != "up" && d != "down" {
				return Action{}, fmt.Errorf("%w: scroll takes up or down, got %q; usage: %s", ErrSyntax, d, usage[kind])
			}
			a.Dir = d
		}
	}
	p.space()
	if err := p.keywords(kind, &a); err != nil {
		return Action{}, fmt.Errorf("%w: %s: %v; usage: %s", ErrSyntax, name, err, usage[kind])
	}
	if !p.eat(')') {
		if p.i < len(p.s) && p.s[p.i] == ',' {
			return Action{}, fmt.Errorf("%w: %s takes %d argument(s), got more; usage: %s", ErrSyntax, name, len(sig), usage[kind])
		}
		return Action{}, fmt.Errorf("%w: expected ')' at offset %d of %q; usage: %s", ErrSyntax, p.i, short(s), usage[kind])
	}
	p.space()
	if p.i != len(p.s) {
		return Action{}, fmt.Errorf("%w: unexpected text %q after the action; send one action per step", ErrSyntax, short(p.s[p.i:]))
	}
	if kind == Press && a.Text == "" {
		return Action{}, fmt.Errorf("%w: press needs a key name such as \"Enter\"", ErrSyntax)
	}
	if kind == Select && a.Text == "" && a.List {
		return Action{}, fmt.Errorf("%w: select needs at least one option", ErrSyntax)
	}
	if kind == Upload && (a.Text == "" || a.List && len(a.Strings()) == 0) {
		return Action{}, fmt.Errorf("%w: upload needs a file name; usage: %s", ErrSyntax, usage[kind])
	}
	return a, nil
}

// keywords reads BrowserGym's trailing keyword arguments of clicks:
// button="left"|"middle"|"right" (clicks and mouse clicks) and
// modifiers=["Control", …] (clicks on elements). mouse_down and mouse_up
// take button="left" only; other keyword arguments are refused.
func (p *parser) keywords(kind Kind, a *Action) error {
	for {
		q := &parser{s: p.s, i: p.i}
		if !q.eat(',') {
			return nil
		}
		q.space()
		if !q.keywordAhead() {
			return nil
		}
		key := q.ident()
		q.space()
		q.eat('=')
		q.space()
		switch {
		case key == "button" && (kind == Click || kind == DblClick || kind == MouseClick || kind == MouseDblClick || kind == MouseDown || kind == MouseUp):
			val, err := q.str()
			if err != nil {
				return fmt.Errorf("button=: %v; expected \"left\", \"middle\" or \"right\"", err)
			}
			switch {
			case val == "left":
			case (val == "middle" || val == "right") && kind != MouseDown && kind != MouseUp:
				a.Button = val
			case val == "middle" || val == "right":
				return fmt.Errorf("%s presses the left button only; use mouse_click(x, y, button=%s)", kind, Quote(val))
			default:
				return fmt.Errorf("button=%s: expected \"left\", \"middle\" or \"right\"", Quote(val))
			}
		case key == "modifiers" && (kind == Click || kind == DblClick):
			var items []string
			var err error
			if q.peek() == '[' {
				items, err = q.list()
			} else {
				var one string
				one, err = q.str()
				items = []string{one}
			}
			if err != nil {
				return fmt.Errorf("modifiers=: %v; expected a list such as [\"Control\", \"Shift\"]", err)
			}
			for _, it := range items {
				bit := 0
				for _, m := range modNames {
					if it == m.name {
						bit = m.bit
					}
				}
				if it == "ControlOrMeta" {
					bit = ModControl
				}
				if bit == 0 {
					return fmt.Errorf("modifier %s: expected Alt, Control, ControlOrMeta, Meta or Shift", Quote(it))
				}
				a.Mods |= bit
			}
		default:
			return fmt.Errorf("keyword argument %s= is not supported; give the arguments in order (clicks also take button= and modifiers=)", key)
		}
		p.i = q.i
		p.space()
	}
}

// maxWaitMs bounds noop(ms).
const maxWaitMs = 10000

// idThenComma reports whether an element id and a comma come next.
func (p *parser) idThenComma() bool {
	q := &parser{s: p.s, i: p.i}
	if _, err := q.id(); err != nil {
		return false
	}
	q.space()
	return q.peek() == ','
}

// numberAhead reports whether a (signed) number comes next.
func (p *parser) numberAhead() bool {
	c := p.peek()
	return c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9'
}

// keywordAhead reports whether name= comes next (Python keyword syntax).
func (p *parser) keywordAhead() bool {
	q := &parser{s: p.s, i: p.i}
	if q.ident() == "" {
		return false
	}
	q.space()
	return q.peek() == '=' && (q.i+1 >= len(q.s) || q.s[q.i+1] != '=')
}

// number reads a decimal number such as 120, -3 or 45.5.
func (p *parser) number() (float64, error) {
	start := p.i
	if p.peek() == '-' || p.peek() == '+' {
		p.i++
	}
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
		p.i++
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1e6 {
		return 0, fmt.Errorf("expected a number, got %q", short(p.s[start:]))
	}
	return f, nil
}

// list reads ["a", "b"]: quoted strings without NUL characters.
func (p *parser) list() ([]string, error) {
	p.eat('[')
	var items []string
	for {
		p.space()
		if p.eat(']') {
			return items, nil
		}
		if len(items) > 0 {
			if !p.eat(',') {
				return nil, fmt.Errorf("expected ',' or ']' in the list")
			}
			p.space()
			if p.eat(']') { // trailing comma
				return items, nil
			}
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("list items cannot contain NUL characters")
		}
		items = append(items, s)
		if len(items) > 100 {
			return nil, fmt.Errorf("the list has more than 100 items")
		}
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) ident() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || p.i > start && c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *parser) id() (int, error) {
	start := p.i
	quoted := p.eat('"') || p.eat('\'') // tolerate click("12"), a common LLM habit
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits {
		return 0, fmt.Errorf("expected an element id (a number from the observation), got %q", short(p.s[start:]))
	}
	n, err := strconv.Atoi(p.s[digits:p.i])
	if err != nil || n > 1<<30 {
		return 0, fmt.Errorf("element id %q is out of range", p.s[digits:p.i])
	}
	if quoted && !p.eat(p.s[start]) {
		return 0, fmt.Errorf("unterminated quoted id")
	}
	return n, nil
}

// str reads a double- or single-quoted string with Go-style escapes.
func (p *parser) str() (string, error) {
	q := p.peek()
	if q != '"' && q != '\'' {
		return "", fmt.Errorf("expected a quoted string, got %q", short(p.s[p.i:]))
	}
	p.i++
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", fmt.Errorf("unterminated string (missing closing %c)", q)
		}
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", fmt.Errorf("unterminated escape at end of string")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '"', '\'', '/':
				b.WriteByte(e)
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case 'x', 'u', 'U': // strconv.Quote writes all three
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if p.i+n > len(p.s) {
					return "", fmt.Errorf("short \\%c escape", e)
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil || v > utf8.MaxRune {
					return "", fmt.Errorf("bad \\%c escape %q", e, p.s[p.i:p.i+n])
				}
				p.i += n
				b.WriteRune(rune(v))
			default:
				return "", fmt.Errorf("unknown escape \\%c (use \\\" \\\\ \\n \\t \\uXXXX)", e)
			}
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == '\n' || unicode.IsControl(r) && r != '\t' {
				return "", fmt.Errorf("raw control character in string; escape it")
			}
			b.WriteRune(r)
			p.i += size
		}
	}
}

func knownNames() string {
	return "click, fill, select, check, hover, press, scroll, goto, go_back, noop, answer, accept_dialog, dismiss_dialog, tab_focus, tab_close, new_tab, dblclick, clear, focus, uncheck, drag, upload, mouse_click, mouse_dblclick, mouse_move, mouse_down, mouse_up, mouse_drag, keyboard_type, keyboard_insert_text; BrowserGym's select_option, drag_and_drop, upload_file, send_msg_to_user, keyboard_press, mouse_drag_and_drop"
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
