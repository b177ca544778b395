package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

var testSpec = gym.Spec{
	ID: "test/rooms-v0", Version: "3", MaxSteps: 20,
	Description:      "Walk the rooms to find the exit.",
	ObservationSpace: "The room you are in.",
	ActionSpace:      `"north", "south", "look"`,
}

func TestPolicyPromptAndHistory(t *testing.T) {
	replies := []string{
		"Action: North",                  // wrong case
		"Hmm.\n```\n2\n```",              // a number in a fenced block
		"I really cannot decide, sorry.", // unparsable: sent as is
		"Action: look",
	}
	f := newFakeOpenAI(t, func(n int, _ chatRequest) reply { return reply{content: replies[n%len(replies)]} })
	p := &Policy{LLM: testClient(t, f.URL(), nil), Spec: testSpec, History: 2}
	ctx := context.Background()
	p.Begin(1)
	valid := []string{"north", "south", "look"}
	var got []string
	for i := range 4 {
		obs := gym.Observation{Text: fmt.Sprintf("You are in room %d.", i), ValidActions: valid}
		a, err := p.Act(ctx, obs)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
		info := p.PolicyInfo()
		if info["prompt_tokens"].(int) <= 0 || info["completion_tokens"].(int) <= 0 || info["reply"] != replies[i] || info["attempts"] != 1 {
			t.Errorf("step %d info %v", i, info)
		}
		status := gym.StatusOK
		if i == 2 {
			status = gym.StatusInvalidAction
		}
		p.Report(gym.StepResult{Status: status, Reward: 0.1 * float64(i)}, false)
	}
	if want := []string{"north", "south", "I really cannot decide, sorry", "look"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("actions %q, want %q", got, want)
	}

	reqs, _, _ := f.seen()
	sys := reqs[0].Messages[0]
	for _, w := range []string{testSpec.ID, testSpec.Description, testSpec.ObservationSpace, testSpec.ActionSpace, "Action: <action>"} {
		if sys.Role != "system" || !strings.Contains(sys.Content, w) {
			t.Errorf("system prompt lacks %q:\n%s", w, sys.Content)
		}
	}
	first := reqs[0].Messages
	if len(first) != 2 || !strings.Contains(first[1].Content, "You are in room 0.") || !strings.Contains(first[1].Content, "1. north\n2. south\n3. look") {
		t.Errorf("first prompt: %+v", first)
	}
	// The last request: system, two past turns (History 2), current.
	last := reqs[3].Messages
	if len(last) != 6 {
		t.Fatalf("last prompt has %d messages, want 6: %+v", len(last), last)
	}
	if !strings.Contains(last[1].Content, "1 earlier steps not shown") || !strings.Contains(last[1].Content, "room 1") ||
		last[2].Role != "assistant" || last[2].Content != "Action: south" {
		t.Errorf("oldest turn shown: %q / %q", last[1].Content, last[2].Content)
	}
	if !strings.Contains(last[3].Content, `Result of "south": status OK`) || last[4].Content != "Action: I really cannot decide, sorry" {
		t.Errorf("second turn shown: %q / %q", last[3].Content, last[4].Content)
	}
	cur := last[5].Content
	if !strings.Contains(cur, "status INVALID_ACTION") || !strings.Contains(cur, "You are in room 3.") || !strings.Contains(cur, "(step 4)") {
		t.Errorf("current message: %q", cur)
	}

	p.Begin(2)
	if _, err := p.Act(ctx, gym.Observation{Text: "fresh"}); err != nil {
		t.Fatal(err)
	}
	reqs, _, _ = f.seen()
	if n := len(reqs[4].Messages); n != 2 || strings.Contains(reqs[4].Messages[1].Content, "Valid actions") {
		t.Errorf("new episode prompt: %+v", reqs[4].Messages)
	}
}

func TestPolicyErrors(t *testing.T) {
	f := newFakeOpenAI(t, func(n int, _ chatRequest) reply {
		if n == 0 {
			return reply{body: `not json`}
		}
		return reply{content: ""}
	})
	p := &Policy{LLM: testClient(t, f.URL(), nil), Spec: testSpec}
	p.Begin(0)
	obs := gym.Observation{Text: "room", ValidActions: []string{"look"}}
	if _, err := p.Act(context.Background(), obs); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("malformed response: err %v", err)
	}
	a, err := p.Act(context.Background(), obs) // empty content: an empty action, for the env to refuse
	if err != nil || a != "" || p.PolicyInfo()["parse"] != ParseEmpty {
		t.Fatalf("empty content: %q, %v, %v", a, err, p.PolicyInfo())
	}
}

// listing is a ValidActioner for observations without a list.
type listing []string

func (l listing) ValidActions(context.Context) ([]string, error) { return l, nil }

func TestPolicyAsksValidActioner(t *testing.T) {
	f := newFakeOpenAI(t, func(int, chatRequest) reply { return reply{content: "1"} })
	p := &Policy{LLM: testClient(t, f.URL(), nil), Spec: testSpec, ValidActions: listing{"east", "west"}}
	p.Begin(0)
	a, err := p.Act(context.Background(), gym.Observation{Text: "room"})
	if err != nil || a != "east" {
		t.Fatalf("%q, %v", a, err)
	}
}
