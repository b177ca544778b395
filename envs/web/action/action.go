// Package action parses the action strings of the web envs into typed
// values. Parsing needs no browser, so a malformed action is rejected before
// the page is touched.
package action

import (
	"errors"
	"fmt"
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
	Noop   Kind = "noop"
	Answer Kind = "answer"

	AcceptDialog  Kind = "accept_dialog"  // OK on alert/confirm/beforeunload; a prompt takes optional text
	DismissDialog Kind = "dismiss_dialog" // Cancel
	TabFocus      Kind = "tab_focus"      // 0-based index in the Tabs: line
	TabClose      Kind = "tab_close"      // the active tab
	NewTab        Kind = "new_tab"        // opens a URL of an allowed host
)

// Action is one parsed action. Only the fields its Kind uses are set.
type Action struct {
	Kind Kind
	ID   int    // element id for click, fill, select, check, hover
	Text string // text for fill, option for select, key for press, url for goto, answer text
	Dir  string // "up" or "down" for scroll
	// HasText tells an optional string argument given (even empty) from
	// one left out, e.g. accept_dialog("") from accept_dialog().
	HasText bool
}

// String writes the action back in its canonical form; Parse(a.String())
// gives a again.
func (a Action) String() string {
	switch a.Kind {
	case Click, Check, Hover:
		return fmt.Sprintf("%s(%d)", a.Kind, a.ID)
	case Fill, Select:
		return fmt.Sprintf("%s(%d, %s)", a.Kind, a.ID, Quote(a.Text))
	case Press, Goto, Answer, NewTab:
		return fmt.Sprintf("%s(%s)", a.Kind, Quote(a.Text))
	case AcceptDialog:
		if a.HasText {
			return fmt.Sprintf("%s(%s)", a.Kind, Quote(a.Text))
		}
		return string(a.Kind) + "()"
	case TabFocus:
		return fmt.Sprintf("%s(%d)", a.Kind, a.ID)
	case Scroll:
		return fmt.Sprintf("scroll(%s)", a.Dir)
	default:
		return string(a.Kind) + "()"
	}
}

// Quote writes s as a double-quoted action argument.
func Quote(s string) string { return strconv.Quote(s) }

// Grammar is the action space, for specs and prompts.
const Grammar = `click(id) | fill(id, "text") | select(id, "option") | check(id) | hover(id) | press("Enter") | scroll(up|down) | goto("url") | go_back() | noop() | answer("text") | accept_dialog() | accept_dialog("prompt text") | dismiss_dialog() | tab_focus(i) | tab_close() | new_tab("url")
id is the number in [brackets] in the observation; strings are double-quoted with Go/JSON escapes (\" \\ \n \uXXXX).`

// argKind is the type of one argument.
type argKind int

const (
	argID argKind = iota
	argString
	argDir
	argOptString // a string that may be left out
	argIndex     // a 0-based number (tab index)
)

var signatures = map[Kind][]argKind{
	Click:  {argID},
	Fill:   {argID, argString},
	Select: {argID, argString},
	Check:  {argID},
	Hover:  {argID},
	Press:  {argString},
	Scroll: {argDir},
	Goto:   {argString},
	GoBack: {},
	Noop:   {},
	Answer: {argString},

	AcceptDialog:  {argOptString},
	DismissDialog: {},
	TabFocus:      {argIndex},
	TabClose:      {},
	NewTab:        {argString},
}

var usage = map[Kind]string{
	Click:  `click(12)`,
	Fill:   `fill(13, "some text")`,
	Select: `select(14, "Option label")`,
	Check:  `check(15)`,
	Hover:  `hover(16)`,
	Press:  `press("Enter")`,
	Scroll: `scroll(down)`,
	Goto:   `goto("http://host/path")`,
	GoBack: `go_back()`,
	Noop:   `noop()`,
	Answer: `answer("the answer")`,

	AcceptDialog:  `accept_dialog() or accept_dialog("prompt text")`,
	DismissDialog: `dismiss_dialog()`,
	TabFocus:      `tab_focus(1)`,
	TabClose:      `tab_close()`,
	NewTab:        `new_tab("http://host/path")`,
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
	sig, ok := signatures[kind]
	if !ok {
		return Action{}, fmt.Errorf("%w: unknown action %q; known actions: %s", ErrSyntax, name, knownNames())
	}
	p.space()
	if !p.eat('(') {
		return Action{}, fmt.Errorf("%w: expected '(' after %s; usage: %s", ErrSyntax, name, usage[kind])
	}
	a := Action{Kind: kind}
	for i, ak := range sig {
		p.space()
		if ak == argOptString && p.peek() == ')' {
			break
		}
		if i > 0 {
			if !p.eat(',') {
				return Action{}, fmt.Errorf("%w: %s takes %d arguments, expected ',' at offset %d; usage: %s", ErrSyntax, name, len(sig), p.i, usage[kind])
			}
			p.space()
		}
		switch ak {
		case argID:
			id, err := p.id()
			if err != nil {
				return Action{}, fmt.Errorf("%w: %s argument %d: %v; usage: %s", ErrSyntax, name, i+1, err, usage[kind])
			}
			a.ID = id
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
	return a, nil
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
	return "click, fill, select, check, hover, press, scroll, goto, go_back, noop, answer, accept_dialog, dismiss_dialog, tab_focus, tab_close, new_tab"
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
