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
// template fill(1, "<text>"): gym.ExpandTemplates replaces the placeholder
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

// hasGoal reports whether an observation states a goal (gym.Goal: the
// web envs); the policy then gets the goal features.
func hasGoal(o gym.Observation) bool {
	_, ok := gym.Goal(o.Text)
	return ok
}
