package gym

import (
	"context"
	"fmt"
	"strings"
)

// Wrapper is the base of wrappers: it forwards everything to the wrapped
// env. Embed it and override what changes, as with Gymnasium's Wrapper.
type Wrapper struct {
	Env
}

// Unwrap returns the wrapped env, so Capable can reach its capabilities.
func (w Wrapper) Unwrap() Env { return w.Env }

// TimeLimit truncates episodes after MaxSteps steps: a caller's limit
// below the env's own (which Registry.Make already enforces).
type TimeLimit struct {
	Wrapper
	MaxSteps int
	steps    int
	done     bool
}

// WithTimeLimit wraps env so no episode runs longer than maxSteps. A
// maxSteps of 0 uses the env's Spec().MaxSteps; if that is 0 too, env is
// returned unchanged.
func WithTimeLimit(env Env, maxSteps int) Env {
	if maxSteps <= 0 {
		maxSteps = env.Spec().MaxSteps
	}
	if maxSteps <= 0 {
		return env
	}
	return &TimeLimit{Wrapper: Wrapper{env}, MaxSteps: maxSteps}
}

func (t *TimeLimit) Reset(ctx context.Context, opts ResetOptions) (Observation, error) {
	t.steps, t.done = 0, false
	return t.Env.Reset(ctx, opts)
}

func (t *TimeLimit) Step(ctx context.Context, action string) (StepResult, error) {
	if t.done {
		return StepResult{}, ErrEpisodeDone
	}
	r, err := t.Env.Step(ctx, action)
	if err != nil {
		return r, err
	}
	t.steps++
	r = limitSteps(r, t.steps, t.MaxSteps)
	t.done = r.Done()
	return r, nil
}

// History adds the last K actions and their statuses to each observation
// text, for policies that see one observation at a time.
type History struct {
	Wrapper
	K    int
	past []string
}

// WithHistory wraps env with an action history of the last k steps.
func WithHistory(env Env, k int) *History {
	return &History{Wrapper: Wrapper{env}, K: k}
}

func (h *History) Reset(ctx context.Context, opts ResetOptions) (Observation, error) {
	h.past = h.past[:0]
	obs, err := h.Env.Reset(ctx, opts)
	if err != nil {
		return obs, err
	}
	obs.Text = h.decorate(obs.Text)
	return obs, nil
}

func (h *History) Step(ctx context.Context, action string) (StepResult, error) {
	r, err := h.Env.Step(ctx, action)
	if err != nil {
		return r, err
	}
	h.past = append(h.past, fmt.Sprintf("%s -> %s", oneLine(action, 200), r.Status))
	if len(h.past) > h.K {
		h.past = h.past[len(h.past)-h.K:]
	}
	r.Observation.Text = h.decorate(r.Observation.Text)
	return r, nil
}

func (h *History) decorate(text string) string {
	if len(h.past) == 0 {
		return text
	}
	var b strings.Builder
	b.WriteString("Previous actions:\n")
	for i, p := range h.past {
		fmt.Fprintf(&b, "%d. %s\n", i+1, p)
	}
	b.WriteString("\n")
	b.WriteString(text)
	return b.String()
}

func oneLine(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func withInfo(info map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(info)+1)
	for key, val := range info {
		out[key] = val
	}
	out[k] = v
	return out
}
