package action

import "testing"

func TestParse(t *testing.T) {
	cases := []struct {
		in, field string
	}{
		{`{"action_type":"click","x":10,"y":20}`, ""},
		{`{"action_type":"scroll","direction":"down"}`, ""},
		{`{"action_type":"input_text","text":"hi","x":1,"y":2}`, ""},
		{`{"action_type":"open_app","app_name":"Clock"}`, ""},
		{`{"action_type":"answer","text":"42"}`, ""},
		{`{"action_type":"click","x":10}`, "y"},
		{`{"action_type":"click","y":10}`, "x"},
		{`{"action_type":"click","x":500,"y":20}`, "x"},
		{`{"action_type":"click","x":5,"y":-1}`, "y"},
		{`{"action_type":"click","x":"a","y":1}`, "x"},
		{`{"action_type":"fly"}`, "action_type"},
		{`{"x":1}`, "action_type"},
		{`{"action_type":"click","x":1,"y":1,"foo":2}`, "foo"},
		{`{"action_type":"click","x":1,"y":1,"text":"a"}`, "text"},
		{`{"action_type":"swipe","direction":"sideways"}`, "direction"},
		{`{"action_type":"swipe"}`, "direction"},
		{`{"action_type":"open_app"}`, "app_name"},
		{`{"action_type":"input_text","text":""}`, "text"},
		{`click 1 2`, "action"},
		{`{"action_type":"wait"} {}`, "action"},
	}
	for _, c := range cases {
		a, err := Parse(c.in, 412, 915)
		if got := FieldOf(err); got != c.field || (c.field != "" && err == nil) {
			t.Errorf("Parse(%s) = %v, field %q; want field %q", c.in, err, got, c.field)
		}
		if err == nil {
			if b, err := Parse(a.String(), 412, 915); err != nil || b != a {
				t.Errorf("round trip of %s: %v %v", c.in, b, err)
			}
		}
	}
}

func TestSwipeVector(t *testing.T) {
	a := Action{Type: Scroll, Direction: "down"}
	if _, y0, _, y1 := SwipeVector(a, 400, 900); y1 >= y0 {
		t.Errorf("scroll down must swipe up: %d -> %d", y0, y1)
	}
}
