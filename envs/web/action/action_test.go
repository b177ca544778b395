package action

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Action
	}{
		{"click(12)", Action{Kind: Click, ID: 12}},
		{"  click ( 12 ) ; ", Action{Kind: Click, ID: 12}},
		{`click("7")`, Action{Kind: Click, ID: 7}},
		{`fill(13, "Alice")`, Action{Kind: Fill, ID: 13, Text: "Alice"}},
		{`fill(13,"a \"quoted\" \\ line\nnext é \u00e9")`, Action{Kind: Fill, ID: 13, Text: "a \"quoted\" \\ line\nnext é é"}},
		{`fill(1, '')`, Action{Kind: Fill, ID: 1, Text: ""}},
		{`fill(1, "\U0010FFFF\x41\ufeff")`, Action{Kind: Fill, ID: 1, Text: "\U0010FFFFA\ufeff"}},
		{`fill(1, 'it\'s')`, Action{Kind: Fill, ID: 1, Text: "it's"}},
		{`select(4, "Size M")`, Action{Kind: Select, ID: 4, Text: "Size M"}},
		{"check(3)", Action{Kind: Check, ID: 3}},
		{"hover(3)", Action{Kind: Hover, ID: 3}},
		{`press("Enter")`, Action{Kind: Press, Text: "Enter"}},
		{"scroll(down)", Action{Kind: Scroll, Dir: "down"}},
		{`scroll("up")`, Action{Kind: Scroll, Dir: "up"}},
		{`goto("http://127.0.0.1:80/x?a=1")`, Action{Kind: Goto, Text: "http://127.0.0.1:80/x?a=1"}},
		{"go_back()", Action{Kind: GoBack}},
		{"go_forward()", Action{Kind: GoForward}},
		{"noop()", Action{Kind: Noop}},
		{`answer("42")`, Action{Kind: Answer, Text: "42"}},
		{"accept_dialog()", Action{Kind: AcceptDialog}},
		{`accept_dialog("")`, Action{Kind: AcceptDialog, HasText: true}},
		{`accept_dialog("Ada")`, Action{Kind: AcceptDialog, Text: "Ada", HasText: true}},
		{"dismiss_dialog()", Action{Kind: DismissDialog}},
		{"tab_focus(1)", Action{Kind: TabFocus, ID: 1}},
		{"tab_focus(0)", Action{Kind: TabFocus}},
		{"tab_close()", Action{Kind: TabClose}},
		{`new_tab("http://127.0.0.1:8080/")`, Action{Kind: NewTab, Text: "http://127.0.0.1:8080/"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q via %q: %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, wantMsg string }{
		{"", "empty action"},
		{"clack(1)", "unknown action"},
		{"click", "expected '('"},
		{"click()", "expected an element id"},
		{"click(abc)", "expected an element id"},
		{"click(1, 2)", "got more"},
		{"click(1", "expected ')'"},
		{"fill(1)", "expected ','"},
		{`fill(1, Alice)`, "expected a quoted string"},
		{`fill(1, "Alice)`, "unterminated string"},
		{`fill(1, "a\q")`, "unknown escape"},
		{`fill(1, "\u12")`, "escape"},
		{"scroll(left)", "up or down"},
		{`press("")`, "key name"},
		{"click(1) click(2)", "one action per step"},
		{"click(99999999999999)", "out of range"},
		{"42", "does not start with an action name"},
		{"click(\xff)", "UTF-8"},
		{"fill(1, \"a\x01b\")", "control character"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q): no error", tt.in)
			continue
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): error %v does not wrap ErrSyntax", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("Parse(%q) = %q, want it to mention %q", tt.in, err, tt.wantMsg)
		}
	}
}

// TestParseFuzzish throws random mutations of valid actions and random
// bytes at the parser: it must never panic, and whatever it accepts must
// round-trip through String.
func TestParseFuzzish(t *testing.T) {
	seeds := []string{`click(12)`, `fill(13, "a\"b")`, `select(2, "x")`, `press("Enter")`, `scroll(up)`, `goto("http://a/b")`, `go_back()`, `answer("y")`}
	alphabet := []byte(`()",'\ 0123456789abcdefghijklmnopqrstuvwxyz_;` + "\n\x00\xff")
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50000; i++ {
		b := []byte(seeds[r.IntN(len(seeds))])
		for n := r.IntN(4); n >= 0; n-- {
			switch r.IntN(3) {
			case 0:
				if len(b) > 0 {
					j := r.IntN(len(b))
					b = append(b[:j], b[j+1:]...)
				}
			case 1:
				j := r.IntN(len(b) + 1)
				b = append(b[:j], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[j:]...)...)
			case 2:
				if len(b) > 0 {
					b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
				}
			}
		}
		a, err := Parse(string(b))
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error does not wrap ErrSyntax: %v", b, err)
			}
			continue
		}
		again, err := Parse(a.String())
		if err != nil || again != a {
			t.Fatalf("Parse(%q) = %+v; round trip via %q gave %+v, %v", b, a, a.String(), again, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`click(1)`, `fill(2, "x\n")`, `scroll(down)`, `click(3, button="right", modifiers=["Shift"])`, `mouse_click(1, 2, button="middle")`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(a.String())
		if err != nil || again != a {
			t.Fatalf("round trip of %q: %+v vs %+v (%v)", s, a, again, err)
		}
	})
}
