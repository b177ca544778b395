package browser

import (
	"context"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

type keyDef struct {
	key, code, text string
	vk              int64
}

var keys = map[string]keyDef{
	"enter":      {"Enter", "Enter", "\r", 13},
	"tab":        {"Tab", "Tab", "", 9},
	"escape":     {"Escape", "Escape", "", 27},
	"esc":        {"Escape", "Escape", "", 27},
	"backspace":  {"Backspace", "Backspace", "", 8},
	"delete":     {"Delete", "Delete", "", 46},
	"insert":     {"Insert", "Insert", "", 45},
	"arrowup":    {"ArrowUp", "ArrowUp", "", 38},
	"arrowdown":  {"ArrowDown", "ArrowDown", "", 40},
	"arrowleft":  {"ArrowLeft", "ArrowLeft", "", 37},
	"arrowright": {"ArrowRight", "ArrowRight", "", 39},
	"home":       {"Home", "Home", "", 36},
	"end":        {"End", "End", "", 35},
	"pageup":     {"PageUp", "PageUp", "", 33},
	"pagedown":   {"PageDown", "PageDown", "", 34},
	"space":      {" ", "Space", " ", 32},
}

// modifier keys, with their CDP modifier bit.
type modKey struct {
	keyDef
	bit int64
}

var modifiers = map[string]modKey{
	"alt":           {keyDef{"Alt", "AltLeft", "", 18}, 1},
	"option":        {keyDef{"Alt", "AltLeft", "", 18}, 1},
	"control":       {keyDef{"Control", "ControlLeft", "", 17}, 2},
	"ctrl":          {keyDef{"Control", "ControlLeft", "", 17}, 2},
	"controlormeta": {keyDef{"Control", "ControlLeft", "", 17}, 2}, // Playwright's name; Linux uses Control
	"meta":          {keyDef{"Meta", "MetaLeft", "", 91}, 4},
	"command":       {keyDef{"Meta", "MetaLeft", "", 91}, 4},
	"cmd":           {keyDef{"Meta", "MetaLeft", "", 91}, 4},
	"shift":         {keyDef{"Shift", "ShiftLeft", "", 16}, 8},
}

// editing commands Chromium binds to shortcuts in its own UI layer, which
// synthetic key events do not pass through; sent along with the key.
// Copy, cut and paste are not among them: they use the episode's own
// clipboard (clipKeys), not Chromium's, which every context shares.
var editCommands = map[string]string{
	"Control+a": "selectAll",
	"Control+z": "undo", "Control+Shift+z": "redo", "Control+y": "redo",
}

// clipKeys are the clipboard shortcuts and what they do (page.js clip).
var clipKeys = map[string]string{
	"Control+c": "copy", "Control+x": "cut", "Control+v": "paste",
	"Control+Insert": "copy", "Shift+Delete": "cut", "Shift+Insert": "paste",
	"Control+Shift+v": "paste", "Control+Shift+V": "paste", // as plain text: the same here
}

// KeyNames lists the keys Press knows besides single characters, F1–F12
// and modifier combinations.
func KeyNames() []string {
	return []string{"Enter", "Tab", "Escape", "Backspace", "Delete", "Insert", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown", "Space"}
}

type keyCombo struct {
	mods []modKey
	bits int64
	key  keyDef
	name string // canonical, e.g. "Control+a"
}

// parseCombo reads "Enter", "a", "Control+a", "Shift+Tab", "Control+Shift+ArrowLeft".
func parseCombo(s string) (keyCombo, error) {
	var c keyCombo
	parts := strings.Split(s, "+")
	if strings.HasSuffix(s, "++") || s == "+" { // the key is '+' itself
		parts = append(parts[:len(parts)-2], "+")
	}
	var names []string
	for _, m := range parts[:len(parts)-1] {
		mk, ok := modifiers[strings.ToLower(strings.TrimSpace(m))]
		if !ok {
			return c, fmt.Errorf("unknown modifier %q in %q; modifiers are Control, Shift, Alt, Meta (e.g. \"Control+a\")", m, s)
		}
		if c.bits&mk.bit == 0 {
			c.mods = append(c.mods, mk)
			c.bits |= mk.bit
			names = append(names, mk.key)
		}
	}
	last := parts[len(parts)-1]
	if last != " " {
		last = strings.TrimSpace(last)
	}
	k, ok := keys[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(last))]
	switch {
	case ok:
	case len([]rune(last)) == 1:
		k = keyDef{key: last, text: last}
		u := strings.ToUpper(last)
		switch {
		case len(u) == 1 && u[0] >= 'A' && u[0] <= 'Z':
			k.code, k.vk = "Key"+u, int64(u[0])
			if c.bits == 8 { // Shift+a types "A"
				k.key, k.text = u, u
			} else if c.bits&8 == 0 { // Control+C is the c key, as a keyboard sends it
				k.key, k.text = strings.ToLower(u), strings.ToLower(u)
			}
		case len(u) == 1 && u[0] >= '0' && u[0] <= '9':
			k.code, k.vk = "Digit"+u, int64(u[0])
		}
	case len(last) >= 2 && (last[0] == 'F' || last[0] == 'f') && isFKey(last[1:]):
		n := 0
		fmt.Sscanf(last[1:], "%d", &n)
		k = keyDef{key: fmt.Sprintf("F%d", n), code: fmt.Sprintf("F%d", n), vk: int64(111 + n)}
	default:
		return c, fmt.Errorf("unknown key %q; use a single character, F1–F12 or one of %s, optionally with modifiers (\"Control+a\")", last, strings.Join(KeyNames(), ", "))
	}
	if c.bits&(1|2|4) != 0 {
		k.text = "" // a shortcut types nothing
	}
	c.key = k
	c.name = strings.Join(append(names, k.key), "+")
	return c, nil
}

func isFKey(s string) bool {
	n := 0
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s {
		return false
	}
	return n >= 1 && n <= 12
}

// Press sends a key press, with modifiers held ("Control+a"), to the
// focused element.
func (t *Tab) Press(ctx context.Context, combo string) error {
	c, err := parseCombo(combo)
	if err != nil {
		return actionErr(err.Error())
	}
	if err := t.pressKeys(ctx, c); err != nil {
		return err
	}
	if kind, ok := clipKeys[c.name]; ok {
		return t.clipboard(ctx, kind)
	}
	return nil
}

// clipboard does what a copy, cut or paste key does, with the episode's
// clipboard (Session.clip).
func (t *Tab) clipboard(ctx context.Context, kind string) error {
	var text string
	if t.sess != nil {
		text = t.sess.clipText()
	}
	res, err := eval[struct {
		Text   *string `json:"text"`
		Insert bool    `json:"insert"`
	}](ctx, t, fmt.Sprintf("window.__egym ? window.__egym.clip(%q, %s) : {}", kind, jsString(text)), true)
	if err != nil {
		return err
	}
	switch {
	case res.Text != nil && t.sess != nil:
		t.sess.setClip(*res.Text)
	case res.Insert && text != "":
		return t.InsertText(ctx, text)
	}
	return nil
}

func (t *Tab) pressKeys(ctx context.Context, c keyCombo) error {
	return t.call(ctx, func(cx context.Context) error {
		send := func(p input.DispatchKeyEventParams) error {
			_, err := chromedp.Call(cx, input.DispatchKeyEvent, p)
			return err
		}
		var bits int64
		for _, m := range c.mods {
			bits |= m.bit
			if err := send(input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeRawKeyDown, Modifiers: bits, Key: m.key, Code: m.code, WindowsVirtualKeyCode: m.vk, NativeVirtualKeyCode: m.vk}); err != nil {
				return err
			}
		}
		k := c.key
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Modifiers: bits, Key: k.key, Code: k.code, Text: k.text, UnmodifiedText: k.text, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}
		if k.text == "" {
			down.Type = input.DispatchKeyEventTypeRawKeyDown
		}
		if cmd, ok := editCommands[c.name]; ok {
			down.Commands = []string{cmd}
		}
		if err := send(down); err != nil {
			return err
		}
		if err := send(input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Modifiers: bits, Key: k.key, Code: k.code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}); err != nil {
			return err
		}
		for i := len(c.mods) - 1; i >= 0; i-- {
			m := c.mods[i]
			bits &^= m.bit
			if err := send(input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Modifiers: bits, Key: m.key, Code: m.code, WindowsVirtualKeyCode: m.vk, NativeVirtualKeyCode: m.vk}); err != nil {
				return err
			}
		}
		return nil
	})
}

// maxTyped bounds Type's key-by-key typing; longer text is inserted at once.
const maxTyped = 256

// Type types text into the focused element key by key (keydown, keypress,
// input, keyup for each character), for pages that listen to keys.
func (t *Tab) Type(ctx context.Context, text string) error {
	if len([]rune(text)) > maxTyped {
		return t.InsertText(ctx, text)
	}
	return t.call(ctx, func(cx context.Context) error {
		for _, r := range text {
			s := string(r)
			if r == '\n' {
				s = "\r"
			}
			k := keyDef{key: s, text: s}
			if r == '\n' {
				k = keys["enter"]
			}
			if _, err := chromedp.Call(cx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k.key, Code: k.code, Text: k.text, UnmodifiedText: k.text, WindowsVirtualKeyCode: k.vk}); err != nil {
				return err
			}
			if _, err := chromedp.Call(cx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: k.key, Code: k.code, WindowsVirtualKeyCode: k.vk}); err != nil {
				return err
			}
		}
		return nil
	})
}
