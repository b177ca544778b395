package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envgym/envgym/gym/trajectory"
)

// chatLLM is a scripted "LLM" behind a real HTTP server on loopback that
// speaks POST /v1/chat/completions as OpenAI documents it. answer gets
// the request's messages and the numbered valid actions of the last one.
type chatLLM struct {
	srv    *httptest.Server
	answer func(n int, msgs []chatMessage, valid []string) string

	mu   sync.Mutex
	reqs [][]chatMessage
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

var numberedRe = regexp.MustCompile(`(?m)^(\d+)\. (.+)$`)

func newChatLLM(t *testing.T, answer func(n int, msgs []chatMessage, valid []string) string) *chatLLM {
	t.Helper()
	l := &chatLLM{answer: answer}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model       string        `json:"model"`
			Messages    []chatMessage `json:"messages"`
			Temperature float64       `json:"temperature"`
			MaxTokens   int           `json:"max_tokens"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Model != "scripted" || len(req.Messages) < 2 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, fmt.Sprint(err, req.Model))
			return
		}
		l.mu.Lock()
		n := len(l.reqs)
		l.reqs = append(l.reqs, req.Messages)
		l.mu.Unlock()
		var valid []string
		for _, m := range numberedRe.FindAllStringSubmatch(req.Messages[len(req.Messages)-1].Content, -1) {
			valid = append(valid, m[2])
		}
		content := answer(n, req.Messages, valid)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(content, "HTTP ") { // a raw answer: "HTTP 500 body"
			var code int
			var body string
			fmt.Sscanf(content, "HTTP %d", &code)
			body = strings.SplitN(content, " ", 3)[2]
			w.WriteHeader(code)
			fmt.Fprint(w, body)
			return
		}
		prompt := 0
		for _, m := range req.Messages {
			prompt += len(strings.Fields(m.Content))
		}
		completion := len(strings.Fields(content))
		json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	})
	l.srv = httptest.NewServer(mux)
	t.Cleanup(l.srv.Close)
	return l
}

func (l *chatLLM) url() string { return l.srv.URL + "/v1" }

func (l *chatLLM) requests() [][]chatMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]chatMessage(nil), l.reqs...)
}

// runInProcess runs the CLI in this process with the test plugins.
func runInProcess(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, append([]string{"--plugin-dir", pluginDir}, args...), strings.NewReader(""), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// firstValid answers with the first valid action, dressed the ways real
// models dress their answers.
func firstValid(n int, _ []chatMessage, valid []string) string {
	if len(valid) == 0 {
		return "look"
	}
	a := valid[0]
	switch n % 5 {
	case 0:
		return "Let me think about the map.\n\n```\n" + a + "\n```"
	case 1:
		return "I should keep exploring.\nAction: " + strings.ToUpper(a)
	case 2:
		return "1"
	case 3:
		return `I will go with "` + a + `" this time.`
	}
	return "**Action:** `" + a + "`"
}

func TestRunOpenAIPolicyRecordsTokens(t *testing.T) {
	l := newChatLLM(t, firstValid)
	out := filepath.Join(t.TempDir(), "llm.jsonl")
	r := runInProcess(t, "run", "text/maze-v0", "--task", "easy", "--episodes", "2", "--json",
		"--policy", "openai", "--base-url", l.url(), "--model", "scripted", "--history", "3", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := decode[runSummary](t, r.stdout)
	if s.Episodes != 2 || s.Policy != "openai" || s.InfraFailures != 0 {
		t.Fatalf("summary %+v", s)
	}
	t.Logf("first-valid-action LLM on maze easy: %+v", s)
	if s.StatusCounts["INVALID_ACTION"] != 0 {
		t.Errorf("every reply names a valid action, yet status counts are %v", s.StatusCounts)
	}
	steps, err := trajectory.ReadSteps(out)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || len(steps) != ms[0].Steps+ms[1].Steps {
		t.Fatalf("%d manifests, %d steps", len(ms), len(steps))
	}
	reqs := l.requests()
	if len(reqs) != len(steps) {
		t.Errorf("%d LLM calls for %d steps", len(reqs), len(steps))
	}
	var prompt int
	for i, st := range steps {
		pi := st.PolicyInfo
		pt, _ := pi["prompt_tokens"].(float64)
		ct, _ := pi["completion_tokens"].(float64)
		if pt <= 0 || ct <= 0 || pi["reply"] == "" || pi["parse"] == "" {
			t.Fatalf("step %d policy_info %v", i, pi)
		}
		if st.Action != st.ValidActions[0] {
			t.Errorf("step %d: action %q from reply %q, want the first valid action %q", i, st.Action, pi["reply"], st.ValidActions[0])
		}
		if st.EpisodeID == ms[0].EpisodeID {
			prompt += int(pt)
		}
		// The prompt held this step's observation and its valid actions.
		cur := reqs[i][len(reqs[i])-1].Content
		if !strings.Contains(cur, st.Obs) || !strings.Contains(cur, "1. "+st.ValidActions[0]) {
			t.Errorf("step %d: prompt lacks the observation or valid actions:\n%s", i, cur)
		}
	}
	if ms[0].PromptTokens != prompt || ms[0].CompletionTokens <= 0 || ms[0].Policy != "openai" {
		t.Errorf("manifest tokens %d/%d, steps sum to %d prompt tokens", ms[0].PromptTokens, ms[0].CompletionTokens, prompt)
	}
	// Later prompts carry the history window: system + 3 turns + current.
	sys := reqs[0][0]
	if sys.Role != "system" || !strings.Contains(sys.Content, "text/maze-v0") || !strings.Contains(sys.Content, "take <colour> key") {
		t.Errorf("system prompt:\n%s", sys.Content)
	}
	if n := len(reqs[5]); n != 1+2*3+1 {
		t.Errorf("step 5 prompt has %d messages, want 8 (system, 3 past turns, current)", n)
	}
	if !strings.Contains(reqs[1][len(reqs[1])-1].Content, "status OK") {
		t.Errorf("second prompt lacks the first action's status:\n%s", reqs[1][len(reqs[1])-1].Content)
	}
}

func TestRunOpenAIPolicyUnparsableAndFailures(t *testing.T) {
	t.Run("unparsable replies are sent as they are", func(t *testing.T) {
		l := newChatLLM(t, func(n int, _ []chatMessage, valid []string) string {
			if n%2 == 0 {
				return "I have no idea what to do, honestly."
			}
			return "HTTP 500 " + `{"error":{"message":"The server had an error","type":"server_error"}}`
		})
		out := filepath.Join(t.TempDir(), "bad.jsonl")
		r := runInProcess(t, "run", "text/maze-v0", "--task", "easy", "--max-steps", "3", "--json",
			"--policy", "openai", "--base-url", l.url(), "--model", "scripted", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		s := decode[runSummary](t, r.stdout)
		if s.StatusCounts["INVALID_ACTION"] != 3 {
			t.Errorf("status counts %v, want 3 INVALID_ACTION", s.StatusCounts)
		}
		steps, err := trajectory.ReadSteps(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 3 || steps[0].Action != "I have no idea what to do, honestly" || steps[1].PolicyInfo["attempts"] != 2.0 {
			t.Errorf("steps %+v", steps)
		}
	})
	for _, tc := range []struct {
		name, answer, want string
	}{
		{"malformed JSON stops the run", "HTTP 200 {\"choices\": [", "malformed chat-completion response"},
		{"no choices stops the run", `HTTP 200 {"id":"x","object":"chat.completion","choices":[]}`, "no choices"},
		{"401 names the server's message", `HTTP 401 {"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`, "Incorrect API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newChatLLM(t, func(int, []chatMessage, []string) string { return tc.answer })
			r := runInProcess(t, "run", "text/maze-v0", "--policy", "openai", "--base-url", l.url(), "--model", "scripted")
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		r := runInProcess(t, "run", "--help")
		for _, w := range []string{"openai", "--base-url", "--api-key-env", "--history", "policy_info", "prompt_tokens"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("run --help lacks %q", w)
			}
		}
	})
	t.Run("no model", func(t *testing.T) {
		r := runInProcess(t, "run", "text/maze-v0", "--policy", "openai")
		if r.code == 0 || !strings.Contains(r.stderr, "--model is required") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
