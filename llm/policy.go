package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/envgym/envgym/gym"
)

// Completer answers chat messages; *Client is the real one.
type Completer interface {
	Complete(ctx context.Context, messages []Message) (Completion, error)
}

// DefaultHistory is the number of past turns a Policy shows by default.
const DefaultHistory = 8

// maxHistoryObs caps each past observation in the prompt; the current
// observation is always shown whole.
const maxHistoryObs = 2000

// Policy plays an env by asking an LLM for each action. Drive it like the
// CLI's policies: Begin before each episode, Act for each step, and
// Report with each step's result (that is how the history learns the
// status of its actions; without Report the status reads "unknown").
// PolicyInfo returns the token usage and reply of the last Act.
//
// A Policy is used by one goroutine, like the env it plays.
type Policy struct {
	LLM  Completer
	Spec gym.Spec // described in the system prompt
	// History is how many past (observation, action, status) turns the
	// prompt shows: 0 means DefaultHistory, a negative value none.
	History int
	// System, when set, replaces the generated system prompt.
	System string
	// ValidActions, when set, lists actions for observations that carry
	// none (a plugin env's ValidActioner capability).
	ValidActions gym.ValidActioner

	turns   []turn // the episode's past turns, oldest first
	dropped int    // turns forgotten before turns[0]
	pending *turn
	info    map[string]any
}

// turn is one past step as the prompt shows it.
type turn struct {
	obs, action string
	status      string // "" until Report
	reward      float64
}

// Begin forgets the previous episode.
func (p *Policy) Begin(int64) {
	p.turns, p.dropped, p.pending, p.info = p.turns[:0], 0, nil, nil
}

// Act asks the LLM for the action to take on obs. Errors are the
// endpoint's (refused, malformed, retries exhausted) or the context's; a
// reply that names no action is not an error: its text is the action.
func (p *Policy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if p.LLM == nil {
		return "", errors.New("llm: policy has no LLM")
	}
	if p.pending != nil { // the caller did not Report the last step
		p.turns = append(p.turns, *p.pending)
		p.pending = nil
	}
	if len(obs.ValidActions) == 0 && p.ValidActions != nil {
		acts, err := p.ValidActions.ValidActions(ctx)
		switch {
		case err == nil:
			obs.ValidActions = acts
		case ctx.Err() != nil:
			return "", fmt.Errorf("llm: valid actions: %w", ctx.Err())
		case !errors.Is(err, gym.ErrUnsupported):
			return "", fmt.Errorf("llm: valid actions: %w", err)
		}
	}
	msgs := p.Messages(obs)
	comp, err := p.LLM.Complete(ctx, msgs)
	if err != nil {
		p.info = nil
		return "", err
	}
	action, how := ParseAction(comp.Content, obs.ValidActions)
	p.info = map[string]any{
		"prompt_tokens":     comp.Usage.PromptTokens,
		"completion_tokens": comp.Usage.CompletionTokens,
		"total_tokens":      comp.Usage.TotalTokens,
		"latency_ms":        float64(comp.Latency.Microseconds()) / 1000,
		"attempts":          comp.Attempts,
		"reply":             comp.Content,
		"parse":             how,
	}
	if comp.Model != "" {
		p.info["model"] = comp.Model
	}
	if comp.FinishReason != "" {
		p.info["finish_reason"] = comp.FinishReason
	}
	p.pending = &turn{obs: obs.Text, action: action}
	return action, nil
}

// Report records the outcome of the last action for the history.
func (p *Policy) Report(res gym.StepResult, done bool) {
	if p.pending == nil {
		return
	}
	t := *p.pending
	t.status, t.reward = res.Status.String(), res.Reward
	p.turns = append(p.turns, t)
	p.pending = nil
	if k := p.window(); len(p.turns) > 2*k+32 { // bounded memory on long episodes
		p.dropped += len(p.turns) - k
		p.turns = append(p.turns[:0], p.turns[len(p.turns)-k:]...)
	}
}

// PolicyInfo is the per-step record of the last Act: prompt_tokens,
// completion_tokens, total_tokens, latency_ms, attempts, reply (the raw
// text), parse (how the action was read, see ParseAction), model and
// finish_reason when the server names them. Nil before the first Act.
func (p *Policy) PolicyInfo() map[string]any { return p.info }

func (p *Policy) window() int {
	switch {
	case p.History < 0:
		return 0
	case p.History == 0:
		return DefaultHistory
	}
	return p.History
}

// Messages is the prompt for obs: the system prompt, the last History
// turns as user/assistant pairs, and the current observation with its
// numbered valid actions.
func (p *Policy) Messages(obs gym.Observation) []Message {
	sys := p.System
	if sys == "" {
		sys = SystemPrompt(p.Spec)
	}
	msgs := []Message{{Role: "system", Content: sys}}
	past := p.turns
	if k := p.window(); len(past) > k {
		past = past[len(past)-k:]
	}
	omitted := p.dropped + len(p.turns) - len(past)
	for i, t := range past {
		var b strings.Builder
		if i == 0 && omitted > 0 {
			fmt.Fprintf(&b, "(%d earlier steps not shown.)\n\n", omitted)
		}
		if i > 0 {
			b.WriteString(outcome(past[i-1]))
		}
		fmt.Fprintf(&b, "Observation (step %d):\n%s", omitted+i+1, clip(t.obs, maxHistoryObs))
		msgs = append(msgs,
			Message{Role: "user", Content: b.String()},
			Message{Role: "assistant", Content: "Action: " + t.action})
	}
	var b strings.Builder
	if len(past) > 0 {
		b.WriteString(outcome(past[len(past)-1]))
	}
	fmt.Fprintf(&b, "Observation (step %d):\n%s\n", p.dropped+len(p.turns)+1, obs.Text)
	if len(obs.ValidActions) > 0 {
		b.WriteString("\nValid actions:\n")
		for i, a := range obs.ValidActions {
			fmt.Fprintf(&b, "%d. %s\n", i+1, a)
		}
		b.WriteString("\nReply with the action to take on a final line \"Action: <one of the valid actions, exactly as written, or its number>\".")
	} else {
		b.WriteString("\nReply with the action to take on a final line \"Action: <action>\".")
	}
	msgs = append(msgs, Message{Role: "user", Content: b.String()})
	return msgs
}

// outcome tells the model how its previous action went.
func outcome(t turn) string {
	status := t.status
	if status == "" {
		status = "unknown"
	}
	return fmt.Sprintf("Result of %q: status %s, reward %g.\n\n", t.action, status, t.reward)
}

// SystemPrompt describes the env from its spec: what it is, what
// observations look like, which actions parse, and how to answer.
func SystemPrompt(spec gym.Spec) string {
	var b strings.Builder
	b.WriteString("You are an agent acting in an environment, one action per turn.\n\n")
	fmt.Fprintf(&b, "Environment: %s", spec.ID)
	if spec.Version != "" {
		fmt.Fprintf(&b, " (version %s)", spec.Version)
	}
	b.WriteString("\n")
	if spec.Description != "" {
		fmt.Fprintf(&b, "Description: %s\n", spec.Description)
	}
	if spec.ObservationSpace != "" {
		fmt.Fprintf(&b, "Observations: %s\n", spec.ObservationSpace)
	}
	if spec.ActionSpace != "" {
		fmt.Fprintf(&b, "Actions: %s\n", spec.ActionSpace)
	}
	if spec.MaxSteps > 0 {
		fmt.Fprintf(&b, "Episodes end after at most %d steps.\n", spec.MaxSteps)
	}
	b.WriteString("\nEach turn you see the result of your last action and the current observation. " +
		"An action the environment cannot parse or apply gets status INVALID_ACTION and still costs a step. " +
		"Think briefly if you need to, then end your reply with one line of the form\n" +
		"Action: <action>\n")
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[…]"
}
