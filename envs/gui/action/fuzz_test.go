package action

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any string parses or fails with an *Error naming a field
// (testdata/fuzz/FuzzParse holds the seeds and what fuzzing found);
// what parses is on screen and round-trips through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"action_type":"click","x":120,"y":640}`,
		`{"action_type":"input_text","text":"Ada","x":200,"y":310}`,
		`{"action_type":"scroll","direction":"down"}`,
		`{"action_type":"open_app","app_name":"Contacts"}`,
		`{"action_type":"answer","text":""}`,
		`{"action_type":"swipe","direction":"left","x":1e3,"y":-0.4}`,
		`{"action_type":"click","x":"1","y":null}`,
		`{"action_type":"wait"} {}`, `null`, `[]`, `{"action_type":1}`, `{"x":NaN}`,
	} {
		f.Add(s, uint16(1080), uint16(2400))
	}
	f.Fuzz(func(t *testing.T, s string, w, h uint16) {
		sw, sh := int(w%4096)+1, int(h%4096)+1
		a, err := Parse(s, sw, sh)
		if err != nil {
			var e *Error
			// The field may be "" only when the input has a key "".
			if !errors.As(err, &e) || e.Msg == "" || e.Field == "" && !strings.Contains(s, `""`) {
				t.Fatalf("Parse(%q): error %T %v does not name a field", s, err, err)
			}
			return
		}
		if a.HasXY && (a.X < 0 || a.X >= sw || a.Y < 0 || a.Y >= sh) {
			t.Fatalf("Parse(%q) on %dx%d: (%d,%d) off screen", s, sw, sh, a.X, a.Y)
		}
		again, err := Parse(a.String(), sw, sh)
		if err != nil || again != a {
			t.Fatalf("Parse(%q) = %+v; round trip via %s: %+v, %v", s, a, a.String(), again, err)
		}
	})
}
