package gym

import (
	"regexp"
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

// GoalTexts proposes what to type into a template, from text's goal
// line: for a shopping goal ("I am looking for a blue lightweight
// sneakers, size 7, ...") the wanted item ("blue lightweight sneakers")
// and, when it has three words or more, the item without its first word
// ("lightweight sneakers": what a search matches best when the first
// word is a colour); otherwise the goal's quoted strings (at most 4). Nil
// when there is no goal or nothing to propose.
func GoalTexts(text string) []string {
	goal, ok := Goal(text)
	if !ok || goal == "" {
		return nil
	}
	for _, lead := range []string{"looking for an ", "looking for a "} {
		if _, rest, ok := strings.Cut(goal, lead); ok {
			item, _, _ := strings.Cut(rest, ",")
			item = strings.TrimSpace(item)
			out := []string{item}
			if w := strings.Fields(item); len(w) >= 3 {
				out = append(out, strings.Join(w[1:], " "))
			}
			return out
		}
	}
	var out []string
	for _, q := range quoted.FindAllStringSubmatch(goal, 4) {
		out = append(out, q[1])
	}
	return out
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// ExpandTemplates is the one rule by which a policy that chooses among
// listed actions gets concrete ones where text's valid actions list
// templates: each template becomes one action per GoalTexts proposal, in
// place, and is dropped when there is none (a placeholder is not
// something to type). Other actions pass through. The result is a new
// slice: callers append to it.
func ExpandTemplates(text string, actions []string) []string {
	if len(actions) == 0 {
		return actions
	}
	var texts []string
	proposed := false
	out := make([]string, 0, len(actions)+2)
	for _, a := range actions {
		if !IsTemplate(a) {
			out = append(out, a)
			continue
		}
		if !proposed {
			texts, proposed = GoalTexts(text), true
		}
		for _, t := range texts {
			out = append(out, FillTemplate(a, t))
		}
	}
	return out
}
