// Package action parses the GUI action space shared by the phone and the
// desktop backends: AndroidWorld/OSWorld-style JSON objects such as
//
//	{"action_type":"click","x":120,"y":640}
//	{"action_type":"input_text","text":"Ada","x":200,"y":310}
//	{"action_type":"scroll","direction":"down"}
//	{"action_type":"open_app","app_name":"Contacts"}
//
// Parsing is strict: unknown fields, fields a type does not use, missing
// fields and coordinates outside the screen are errors that name the field,
// so an agent learns exactly what to fix.
package action

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Types of actions, by their action_type.
const (
	Click         = "click"
	DoubleTap     = "double_tap"
	LongPress     = "long_press"
	Swipe         = "swipe"
	Scroll        = "scroll"
	InputText     = "input_text"
	KeyboardEnter = "keyboard_enter"
	NavigateBack  = "navigate_back"
	NavigateHome  = "navigate_home"
	OpenApp       = "open_app"
	Wait          = "wait"
	Answer        = "answer"
)

// Directions of swipe and scroll.
var Directions = []string{"up", "down", "left", "right"}

// spec says which fields a type needs and which it may take.
type spec struct {
	required []string
	optional []string
}

var specs = map[string]spec{
	Click:         {required: []string{"x", "y"}},
	DoubleTap:     {required: []string{"x", "y"}},
	LongPress:     {required: []string{"x", "y"}},
	Swipe:         {required: []string{"direction"}, optional: []string{"x", "y"}},
	Scroll:        {required: []string{"direction"}, optional: []string{"x", "y"}},
	InputText:     {required: []string{"text"}, optional: []string{"x", "y"}},
	KeyboardEnter: {},
	NavigateBack:  {},
	NavigateHome:  {},
	OpenApp:       {required: []string{"app_name"}},
	Wait:          {},
	Answer:        {required: []string{"text"}},
}

// Types lists every action_type, sorted.
func Types() []string {
	out := make([]string, 0, len(specs))
	for k := range specs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Grammar describes the action space for specs and prompts.
const Grammar = `One JSON object per step, coordinates in screenshot pixels:
{"action_type":"click","x":X,"y":Y} | {"action_type":"double_tap","x":X,"y":Y} | {"action_type":"long_press","x":X,"y":Y}
{"action_type":"swipe","direction":"up|down|left|right"[,"x":X,"y":Y]}  (finger moves in direction)
{"action_type":"scroll","direction":"up|down|left|right"[,"x":X,"y":Y]} (content to reveal; scroll down = swipe up)
{"action_type":"input_text","text":"..."[,"x":X,"y":Y]} (tap the field at x,y first when given)
{"action_type":"keyboard_enter"} | {"action_type":"navigate_back"} | {"action_type":"navigate_home"}
{"action_type":"open_app","app_name":"NAME"} | {"action_type":"wait"} | {"action_type":"answer","text":"..."}`

// Action is one parsed action. X and Y are meaningful when HasXY.
type Action struct {
	Type      string
	X, Y      int
	HasXY     bool
	Direction string
	Text      string
	AppName   string
}

// Error is a parse error that names the offending field.
type Error struct {
	Field string // e.g. "x", "action_type", "foo"
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads one action for a screen of w×h pixels. Every error is an
// *Error naming the field.
func Parse(s string, w, h int) (Action, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&raw); err != nil {
		return Action{}, errf("action", "not a JSON object: %v", err)
	}
	if dec.More() {
		return Action{}, errf("action", "trailing data after the JSON object")
	}
	if raw == nil {
		return Action{}, errf("action", "not a JSON object")
	}
	tRaw, ok := raw["action_type"]
	if !ok {
		return Action{}, errf("action_type", "missing; want one of %s", strings.Join(Types(), ", "))
	}
	var a Action
	if err := json.Unmarshal(tRaw, &a.Type); err != nil {
		return Action{}, errf("action_type", "must be a string")
	}
	sp, ok := specs[a.Type]
	if !ok {
		return Action{}, errf("action_type", "unknown type %q; want one of %s", a.Type, strings.Join(Types(), ", "))
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "action_type" || slices.Contains(sp.required, k) || slices.Contains(sp.optional, k) {
			continue
		}
		if _, known := fieldNames[k]; known {
			return Action{}, errf(k, "not used by %s", a.Type)
		}
		return Action{}, errf(k, "unknown field")
	}
	for _, k := range sp.required {
		if _, ok := raw[k]; !ok {
			return Action{}, errf(k, "missing; %s needs %s", a.Type, strings.Join(sp.required, ", "))
		}
	}
	_, hasX := raw["x"]
	_, hasY := raw["y"]
	if hasX != hasY {
		if hasX {
			return Action{}, errf("y", "missing; give both x and y")
		}
		return Action{}, errf("x", "missing; give both x and y")
	}
	if hasX {
		var err error
		if a.X, err = coord(raw["x"], "x", w); err != nil {
			return Action{}, err
		}
		if a.Y, err = coord(raw["y"], "y", h); err != nil {
			return Action{}, err
		}
		a.HasXY = true
	}
	if v, ok := raw["direction"]; ok {
		if err := json.Unmarshal(v, &a.Direction); err != nil || !slices.Contains(Directions, a.Direction) {
			return Action{}, errf("direction", "want one of %s", strings.Join(Directions, ", "))
		}
	}
	if v, ok := raw["text"]; ok {
		if err := json.Unmarshal(v, &a.Text); err != nil {
			return Action{}, errf("text", "must be a string")
		}
		if a.Type == InputText && a.Text == "" {
			return Action{}, errf("text", "empty")
		}
	}
	if v, ok := raw["app_name"]; ok {
		if err := json.Unmarshal(v, &a.AppName); err != nil || strings.TrimSpace(a.AppName) == "" {
			return Action{}, errf("app_name", "must be a non-empty string")
		}
	}
	return a, nil
}

var fieldNames = map[string]struct{}{"x": {}, "y": {}, "direction": {}, "text": {}, "app_name": {}}

func coord(raw json.RawMessage, field string, limit int) (int, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) {
		return 0, errf(field, "must be a number")
	}
	v := int(math.Round(f))
	if v < 0 || v >= limit {
		return 0, errf(field, "%d is off screen; want 0 <= %s < %d", v, field, limit)
	}
	return v, nil
}

// String writes a back as canonical JSON.
func (a Action) String() string {
	m := map[string]any{"action_type": a.Type}
	if a.HasXY {
		m["x"], m["y"] = a.X, a.Y
	}
	if a.Direction != "" {
		m["direction"] = a.Direction
	}
	if a.Text != "" || a.Type == Answer {
		m["text"] = a.Text
	}
	if a.AppName != "" {
		m["app_name"] = a.AppName
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m)
	return strings.TrimSpace(b.String())
}

// FieldOf returns the field an error names, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// SwipeVector returns the finger's start and end for a swipe or scroll of
// a on a w×h screen: from (x,y) or the screen centre, a third of the
// screen long. scroll reverses the direction (scroll down = swipe up).
func SwipeVector(a Action, w, h int) (x0, y0, x1, y1 int) {
	x0, y0 = w/2, h/2
	if a.HasXY {
		x0, y0 = a.X, a.Y
	}
	dir := a.Direction
	if a.Type == Scroll {
		dir = map[string]string{"up": "down", "down": "up", "left": "right", "right": "left"}[dir]
	}
	dx, dy := 0, 0
	switch dir {
	case "up":
		dy = -h / 3
	case "down":
		dy = h / 3
	case "left":
		dx = -w / 3
	case "right":
		dx = w / 3
	}
	clamp := func(v, hi int) int { return max(0, min(hi-1, v)) }
	return x0, y0, clamp(x0+dx, w), clamp(y0+dy, h)
}
