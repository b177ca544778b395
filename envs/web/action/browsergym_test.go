package action

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestParsePageActions covers the element, pointer and keyboard actions
// and BrowserGym's spellings of them.
func TestParsePageActions(t *testing.T) {
	tests := []struct {
		in   string
		want Action
	}{
		{"dblclick(3)", Action{Kind: DblClick, ID: 3}},
		{`clear("4")`, Action{Kind: Clear, ID: 4}},
		{"focus(5)", Action{Kind: Focus, ID: 5}},
		{"uncheck(6)", Action{Kind: Uncheck, ID: 6}},
		{"drag(7, 8)", Action{Kind: Drag, ID: 7, To: 8}},
		{`drag_and_drop("7", "8")`, Action{Kind: Drag, ID: 7, To: 8}},
		{`upload(9, "a.txt")`, Action{Kind: Upload, ID: 9, Text: "a.txt"}},
		{`upload_file("9", ["a.txt", "b.png"])`, Action{Kind: Upload, ID: 9, Text: "a.txt\x00b.png", List: true}},
		{`select_option("4", "Blue")`, Action{Kind: Select, ID: 4, Text: "Blue"}},
		{`select_option(4, ["Ham", "Basil",])`, Action{Kind: Select, ID: 4, Text: "Ham\x00Basil", List: true}},
		{"mouse_click(120, 340.5)", Action{Kind: MouseClick, X: 120, Y: 340.5}},
		{"mouse_dblclick(1, 2)", Action{Kind: MouseDblClick, X: 1, Y: 2}},
		{"mouse_move(0, 0)", Action{Kind: MouseMove}},
		{"mouse_down(3, 4)", Action{Kind: MouseDown, X: 3, Y: 4}},
		{"mouse_up(5, 6)", Action{Kind: MouseUp, X: 5, Y: 6}},
		{"mouse_drag(1, 2, 3, 4)", Action{Kind: MouseDrag, X: 1, Y: 2, X2: 3, Y2: 4}},
		{"mouse_drag_and_drop(1, 2, 3, 4)", Action{Kind: MouseDrag, X: 1, Y: 2, X2: 3, Y2: 4}},
		{`press("12", "Control+a")`, Action{Kind: Press, ID: 12, Text: "Control+a"}},
		{`press(12, "Enter")`, Action{Kind: Press, ID: 12, Text: "Enter"}},
		{`keyboard_press("Shift+Tab")`, Action{Kind: Press, Text: "Shift+Tab"}},
		{`keyboard_type("hi")`, Action{Kind: KeyboardType, Text: "hi"}},
		{`keyboard_insert_text("hi")`, Action{Kind: KeyboardPaste, Text: "hi"}},
		{`send_msg_to_user("42")`, Action{Kind: Answer, Text: "42"}},
		{"scroll(0, 200)", Action{Kind: Scroll, X: 0, Y: 200}},
		{"scroll(-50, 0)", Action{Kind: Scroll, X: -50}},
		{"noop(500)", Action{Kind: Noop, Ms: 500}},
		{"noop()", Action{Kind: Noop}},
		{`click("12", button="left")`, Action{Kind: Click, ID: 12}},
		{`click("12", button="right")`, Action{Kind: Click, ID: 12, Button: "right"}},
		{`click('12', button='middle')`, Action{Kind: Click, ID: 12, Button: "middle"}},
		{`click("12", modifiers=["Shift"])`, Action{Kind: Click, ID: 12, Mods: ModShift}},
		{`click("12", button="left", modifiers=["ControlOrMeta", "Alt"])`, Action{Kind: Click, ID: 12, Mods: ModControl | ModAlt}},
		{`click(12, modifiers=["Meta", "Control", "Shift", "Alt"], button="right")`, Action{Kind: Click, ID: 12, Button: "right", Mods: ModAlt | ModControl | ModMeta | ModShift}},
		{`dblclick("7", modifiers=["Control"])`, Action{Kind: DblClick, ID: 7, Mods: ModControl}},
		{`mouse_click(10, 20, button="right")`, Action{Kind: MouseClick, X: 10, Y: 20, Button: "right"}},
		{`mouse_dblclick(10, 20, button="middle")`, Action{Kind: MouseDblClick, X: 10, Y: 20, Button: "middle"}},
		{`mouse_down(1, 2, button="left")`, Action{Kind: MouseDown, X: 1, Y: 2}},
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
	a, _ := Parse(`select_option(4, ["Ham", "Basil"])`)
	if !slices.Equal(a.Strings(), []string{"Ham", "Basil"}) {
		t.Errorf("Strings() = %q", a.Strings())
	}
}

func TestParsePageActionErrors(t *testing.T) {
	tests := []struct{ in, wantMsg string }{
		{`click("12", button="back")`, `expected "left", "middle" or "right"`},
		{`click("12", modifiers=["Hyper"])`, `modifier "Hyper"`},
		{`click("12", modifiers=[Shift])`, "modifiers="},
		{`mouse_click(1, 2, modifiers=["Shift"])`, "keyword argument modifiers="},
		{`mouse_down(1, 2, button="right")`, "left button only"},
		{`hover(3, button="right")`, "keyword argument button="},
		{`click(3, timeout=500)`, "keyword argument timeout="},
		{`fill(1, value="x")`, "keyword arguments"},
		{"mouse_click(1)", "expected ','"},
		{"mouse_click(a, 2)", "expected a number"},
		{"mouse_click(1, 2e9)", "expected ')'"},
		{"drag(1)", "expected ','"},
		{`upload(1, [])`, "file name"},
		{`upload(1, "")`, "file name"},
		{`select(1, [])`, "at least one option"},
		{`select(1, ["a" "b"])`, "expected ','"},
		{"noop(99999)", "noop waits"},
		{`press(1, "")`, "key name"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.in, err, tt.wantMsg)
		}
	}
}
