package gym

import (
	"strconv"
	"strings"
)

// Observation text conventions that envs write and policies read.

// Goal returns the goal an observation states on its "Goal:" line (the
// first line that starts with "Goal:" after leading spaces), trimmed;
// ok is false when there is none. Envs that have a goal put it there.
func Goal(text string) (goal string, ok bool) {
	for l := range strings.Lines(text) {
		if g, found := strings.CutPrefix(strings.TrimSpace(l), "Goal:"); found {
			return strings.TrimSpace(g), true
		}
	}
	return "", false
}

// Placeholder marks where a valid action listed as a template takes free
// text, e.g. fill(13, "<text>") or answer("<text>"): the env cannot
// enumerate what to type, so the policy fills it (FillTemplate).
const Placeholder = `"<text>"`

// IsTemplate reports whether a listed action takes free text.
func IsTemplate(action string) bool { return strings.Contains(action, Placeholder) }

// FillTemplate puts text, quoted, where template has its placeholder:
// FillTemplate(`fill(3, "<text>")`, "blue socks") is `fill(3, "blue socks")`.
// A template without a placeholder comes back unchanged.
func FillTemplate(template, text string) string {
	return strings.Replace(template, Placeholder, strconv.Quote(text), 1)
}

// FillsTemplate reports whether action is template with some quoted text
// in place of the placeholder: `fill(3, "blue socks")` fills
// `fill(3, "<text>")`.
func FillsTemplate(action, template string) bool {
	head, tail, ok := strings.Cut(template, Placeholder)
	if !ok || !strings.HasPrefix(action, head) || !strings.HasSuffix(action, tail) || len(action) < len(head)+len(tail) {
		return false
	}
	_, err := strconv.Unquote(action[len(head) : len(action)-len(tail)])
	return err == nil
}
