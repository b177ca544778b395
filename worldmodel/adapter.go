package worldmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/envgym/envgym/gym"
)

// FillTemplates wraps an env whose valid actions list text entry as a
// template (`fill(N, "<text>")`, as the web envs do): a policy that
// chooses among listed actions has nothing to type there. Each template
// becomes concrete fills with the last 2, 3 and 4 words of the goal's
// first clause ("Goal: I am looking for a blue lightweight sneakers, size
// 7, …" gives "lightweight sneakers", "blue lightweight sneakers", "a blue
// lightweight sneakers"). The sim-to-real experiment gives both arms the
// same adapter, in the dream and in the real env. Envs without templates
// pass through unchanged.
type FillTemplates struct{ gym.Wrapper }

// NewFillTemplates wraps env.
func NewFillTemplates(env gym.Env) gym.Env { return FillTemplates{gym.Wrapper{Env: env}} }

// Reset resets the env and expands the templates.
func (f FillTemplates) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	obs, err := f.Env.Reset(ctx, opts)
	obs.ValidActions = expandFills(obs.Text, obs.ValidActions)
	return obs, err
}

// Step steps the env and expands the templates.
func (f FillTemplates) Step(ctx context.Context, action string) (gym.StepResult, error) {
	r, err := f.Env.Step(ctx, action)
	r.Observation.ValidActions = expandFills(r.Observation.Text, r.Observation.ValidActions)
	return r, err
}

// fillTemplate is the end of a text-entry template: the placeholder
// (gym.Placeholder) as the last argument.
const fillTemplate = gym.Placeholder + ")"

func expandFills(text string, valid []string) []string {
	var phrases []string
	if g, ok := gym.Goal(text); ok {
		clause, _, _ := strings.Cut(g, ",")
		w := strings.Fields(clause)
		for n := 2; n <= 4 && n <= len(w); n++ {
			phrases = append(phrases, strings.Join(w[len(w)-n:], " "))
		}
	}
	if len(phrases) == 0 {
		return valid
	}
	var out []string
	changed := false
	for _, a := range valid {
		head, ok := strings.CutSuffix(a, fillTemplate)
		if !ok {
			out = append(out, a)
			continue
		}
		changed = true
		for _, p := range phrases {
			out = append(out, fmt.Sprintf("%s%s)", head, strconv.Quote(p)))
		}
	}
	if !changed {
		return valid
	}
	return out
}

// fillsTemplate reports whether action fills the text template v:
// fill(3, "blue socks") fills fill(3, "<text>").
func fillsTemplate(action, v string) bool {
	head, ok := strings.CutSuffix(v, fillTemplate)
	return ok && strings.HasPrefix(action, head) && strings.HasSuffix(action, `")`) && len(action) > len(head)+2
}
