package llm

import (
	"strings"
	"testing"
)

func TestParseAction(t *testing.T) {
	maze := []string{"go north", "go east", "take red key", "take", "open red door", "look"}
	for _, tc := range []struct {
		name, reply string
		valid       []string
		want, how   string // how: a substring of the rule reported
	}{
		{"exact", "go east", maze, "go east", "exact"},
		{"action line after chatter", "The key is here, so I should pick it up first.\nAction: take red key", maze, "take red key", "action:/exact"},
		{"last action line wins", "Action: go north? No, the door is locked.\nFinal action: open red door", maze, "open red door", "action:/exact"},
		{"bold action line", "**Action:** `look`", maze, "look", "action:/exact"},
		{"wrong case", "Action: GO North", maze, "go north", "action:/case"},
		{"number", "3", maze, "take red key", "index"},
		{"number in action line", "I'll pick the key.\nAction: 3.", maze, "take red key", "action:/index"},
		{"bracketed number", "Action: [5]", maze, "open red door", "index"},
		{"number out of range is text", "Action: 42", maze, "42", "unmatched"},
		{"fenced block", "Let me look around.\n```\nlook\n```\nThat should help.", maze, "look", "fenced/exact"},
		{"fenced with language", "```text\nGo East\n```", maze, "go east", "fenced/case"},
		{"action then fenced", "Action:\n```\nopen red door\n```", maze, "open red door", "action:/exact"},
		{"quoted in chatter", `I think the best move is "open red door" since I hold the key.`, maze, "open red door", "quoted/exact"},
		{"single quotes and period", "Action: 'look'.", maze, "look", "action:/exact"},
		{"unique prefix", "Action: open", maze, "open red door", "prefix"},
		{"ambiguous prefix", "Action: go", maze, "go", "unmatched"},
		{"mention", "I will take red key now because it opens the door", maze, "take red key", "mention"},
		{"mention of two is ambiguous", "Either go north or go east", maze, "Either go north or go east", "unmatched"},
		{"think block dropped", "<think>maybe 1, or go north... Action: look</think>\nAction: go east", maze, "go east", "action:/exact"},
		{"unfinished think", "Action: look\n<think>hmm", maze, "look", "exact"},
		{"gibberish", "I am not sure what to do here.", maze, "I am not sure what to do here", "unmatched"},
		{"empty", "  \n", maze, "", "empty"},
		{"no valid actions: first line", "guess 50\nbecause it halves the range", nil, "guess 50", "whole/text"},
		{"no valid actions: action line", "Range is 1-100.\nAction: guess 50", nil, "guess 50", "action:/text"},
		{"no valid actions: fenced multi-line kept", "```\nwrite main.go\npackage main\n```", nil, "write main.go\npackage main", "fenced/text"},
		{"JSON kept whole", "{\n  \"type\": \"tap\",\n  \"x\": 10\n}", nil, "{\n  \"type\": \"tap\",\n  \"x\": 10\n}", "whole/text"},
		{"only think", "<think>no idea</think>", nil, "<think>no idea</think>", "raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, how := ParseAction(tc.reply, tc.valid)
			if got != tc.want || !strings.Contains(how, tc.how) {
				t.Errorf("ParseAction(%q) = %q (%s), want %q (%s)", tc.reply, got, how, tc.want, tc.how)
			}
		})
	}
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"Action: 1", "```\nx\n```", "\"a\"", "<think>", "**", "Action:", "`"} {
		f.Add(s)
	}
	valid := []string{"go north", "look", "take"}
	f.Fuzz(func(t *testing.T, reply string) {
		a, how := ParseAction(reply, valid)
		if how == "" {
			t.Errorf("ParseAction(%q): no rule", reply)
		}
		if len(a) > maxActionBytes+len(reply) {
			t.Errorf("ParseAction(%q) grew to %d bytes", reply, len(a))
		}
	})
}
