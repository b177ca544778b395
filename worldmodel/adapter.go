package worldmodel

import (
	"context"

	"github.com/envgym/envgym/gym"
)

// FillTemplates wraps an env whose valid actions list text entry as a
// template (`fill(N, "<text>")`, as the web envs do): a policy that
// chooses among listed actions has nothing to type there. Each template
// becomes concrete fills by the one rule the trainer also uses
// (gym.ExpandTemplates: "Goal: I am looking for a blue lightweight
// sneakers, size 7, …" gives "blue lightweight sneakers" and "lightweight
// sneakers"). The sim-to-real experiment gives every arm the same
// adapter, in the dream and in the real env. Envs without templates pass
// through unchanged.
type FillTemplates struct{ gym.Wrapper }

// NewFillTemplates wraps env.
func NewFillTemplates(env gym.Env) gym.Env { return FillTemplates{gym.Wrapper{Env: env}} }

// Reset resets the env and expands the templates.
func (f FillTemplates) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	obs, err := f.Env.Reset(ctx, opts)
	obs.ValidActions = gym.ExpandTemplates(obs.Text, obs.ValidActions)
	return obs, err
}

// Step steps the env and expands the templates.
func (f FillTemplates) Step(ctx context.Context, action string) (gym.StepResult, error) {
	r, err := f.Env.Step(ctx, action)
	r.Observation.ValidActions = gym.ExpandTemplates(r.Observation.Text, r.Observation.ValidActions)
	return r, err
}
