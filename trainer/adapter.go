package trainer

import (
	"regexp"
	"strings"

	"github.com/envgym/envgym/gym"
)

// The candidate adapter: what the policy reads for an action, and the
// concrete actions it proposes where an env lists templates.
//
// The web envs list actions by element id ("click(7)") and the element's
// text is on the observation line "[7] button \"Buy Now\"": an id alone
// means nothing to a policy that scores candidates by their words, so
// describe appends the element's line. They list a text field as the
// template fill(1, "<text>"): expandTemplates replaces the placeholder
// with texts taken from the goal. Observations without such lines (the
// text envs) pass through unchanged.

// elementLine matches an observation line that carries an element id.
var elementLine = regexp.MustCompile(`^\[(\d+)\]\s+(.*)$`)

// idAction matches an action whose first argument is an element id.
var idAction = regexp.MustCompile(`^([a-z_]+)\((\d+)`)

// elements maps element ids to the rest of their observation line.
func elements(text string) map[string]string {
	var out map[string]string
	for l := range strings.Lines(text) {
		m := elementLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[m[1]] = m[2]
	}
	return out
}

// describe is the text the policy reads for action in an observation
// whose element lines are els: the action, then the line of the element
// it names, if any.
func describe(els map[string]string, action string) string {
	m := idAction.FindStringSubmatch(action)
	if m == nil {
		return action
	}
	if line, ok := els[m[2]]; ok {
		return action + " " + line
	}
	return action
}

// goalTexts proposes texts to type, from the observation's "Goal:" line:
// for a shopping goal ("I am looking for a blue lightweight sneakers,
// size 7, ...") the wanted item ("blue lightweight sneakers") and the
// item without its first word ("lightweight sneakers", what a search
// matches best when the first word is a colour); otherwise the goal's
// quoted strings.
func goalTexts(text string) []string {
	goal, ok := gym.Goal(text)
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
	for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(goal, 4) {
		out = append(out, q[1])
	}
	return out
}

// expandTemplates replaces each action with a "<text>" placeholder by one
// action per proposed text (dropping it when there is none: a policy
// cannot type a placeholder).
func expandTemplates(text string, actions []string) []string {
	var texts []string
	proposed := false
	out := make([]string, 0, len(actions)+2)
	for _, a := range actions {
		if !gym.IsTemplate(a) {
			out = append(out, a)
			continue
		}
		if !proposed {
			texts, proposed = goalTexts(text), true
		}
		for _, t := range texts {
			out = append(out, gym.FillTemplate(a, t))
		}
	}
	return out
}

// hasGoal reports whether an observation states a goal (gym.Goal: the
// web envs); the policy then gets the goal features.
func hasGoal(o gym.Observation) bool {
	_, ok := gym.Goal(o.Text)
	return ok
}
