package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatRequest is the documented request body, decoded strictly so a field
// the API does not define fails the test.
type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
	Stop        []string  `json:"stop"`
}

// reply is what the scripted server does for one request.
type reply struct {
	status  int               // 0: 200
	header  map[string]string // extra headers
	body    string            // raw body; empty: a documented completion of content
	content string
	hangup  bool // close the connection without answering
}

// fakeOpenAI is a real HTTP server on loopback implementing POST
// /v1/chat/completions as OpenAI documents it; script decides each answer.
type fakeOpenAI struct {
	*httptest.Server
	t      *testing.T
	script func(n int, req chatRequest) reply

	mu       sync.Mutex
	requests []chatRequest
	auth     []string
	times    []time.Time
}

func newFakeOpenAI(t *testing.T, script func(n int, req chatRequest) reply) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{t: t, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", f.handle)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) URL() string { return f.Server.URL + "/v1" }

func (f *fakeOpenAI) handle(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, `{"error":{"message":"want Content-Type application/json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	var req chatRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, fmt.Sprint("bad request: ", err))
		return
	}
	for _, m := range req.Messages {
		if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
			http.Error(w, `{"error":{"message":"bad role"}}`, http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.times = append(f.times, time.Now())
	f.mu.Unlock()

	rep := f.script(n, req)
	if rep.hangup {
		hj, ok := w.(http.Hijacker)
		if !ok {
			f.t.Error("cannot hijack")
			return
		}
		c, _, err := hj.Hijack()
		if err == nil {
			c.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	body := rep.body
	if body == "" && (rep.status == 0 || rep.status == 200) {
		body = completionJSON(req.Model, rep.content, promptTokens(req), len(strings.Fields(rep.content))+1)
	}
	fmt.Fprint(w, body)
}

// completionJSON is a chat.completion object as the API reference shows it.
func completionJSON(model, content string, prompt, completion int) string {
	b, _ := json.Marshal(map[string]any{
		"id":      "chatcmpl-test",
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
	return string(b)
}

// promptTokens is a stand-in tokenizer: words in all messages.
func promptTokens(req chatRequest) int {
	n := 0
	for _, m := range req.Messages {
		n += len(strings.Fields(m.Content)) + 3
	}
	return n
}

// seen returns copies of what the server recorded.
func (f *fakeOpenAI) seen() (reqs []chatRequest, auth []string, times []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(reqs, f.requests...), append(auth, f.auth...), append(times, f.times...)
}

// gap is the time between the first two requests.
func (f *fakeOpenAI) gap() time.Duration {
	_, _, times := f.seen()
	return times[1].Sub(times[0])
}

func (f *fakeOpenAI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func testClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: url, Model: "test-model", APIKey: "sk-test", MaxTokens: 64, Temperature: 0.5,
		Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Timeout: 5 * time.Second, MaxAttempts: 4}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompleteSendsDocumentedRequest(t *testing.T) {
	f := newFakeOpenAI(t, func(int, chatRequest) reply { return reply{content: "Action: north"} })
	c := testClient(t, f.URL()+"/", func(c *Config) { c.Stop = []string{"\n\n"} })
	comp, err := c.Complete(context.Background(), []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "where to?"}})
	if err != nil {
		t.Fatal(err)
	}
	if comp.Content != "Action: north" || comp.Attempts != 1 || comp.Model != "test-model" || comp.FinishReason != "stop" {
		t.Errorf("completion %+v", comp)
	}
	if comp.Usage.PromptTokens == 0 || comp.Usage.CompletionTokens != 3 || comp.Usage.TotalTokens != comp.Usage.PromptTokens+3 {
		t.Errorf("usage %+v", comp.Usage)
	}
	reqs, auth, _ := f.seen()
	req := reqs[0]
	if req.Model != "test-model" || len(req.Messages) != 2 || req.Messages[1].Content != "where to?" ||
		req.Temperature == nil || *req.Temperature != 0.5 || req.MaxTokens != 64 || len(req.Stop) != 1 {
		t.Errorf("request %+v", req)
	}
	if auth[0] != "Bearer sk-test" {
		t.Errorf("Authorization %q", auth[0])
	}
}

func TestAPIKeyFromEnv(t *testing.T) {
	f := newFakeOpenAI(t, func(int, chatRequest) reply { return reply{content: "x"} })
	t.Setenv("GYM_TEST_LLM_KEY", "sk-from-env")
	t.Setenv(DefaultAPIKeyEnv, "")
	for _, tc := range []struct{ env, want string }{{"GYM_TEST_LLM_KEY", "Bearer sk-from-env"}, {"", ""}} {
		c := testClient(t, f.URL(), func(c *Config) { c.APIKey, c.APIKeyEnv = "", tc.env })
		if _, err := c.Complete(context.Background(), []Message{{Role: "user", Content: "hi"}}); err != nil {
			t.Fatal(err)
		}
		_, auth, _ := f.seen()
		if got := auth[len(auth)-1]; got != tc.want {
			t.Errorf("env %q: Authorization %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestCompleteRetries(t *testing.T) {
	ctx := context.Background()
	msgs := []Message{{Role: "user", Content: "go"}}
	t.Run("429 with Retry-After, then success", func(t *testing.T) {
		f := newFakeOpenAI(t, func(n int, _ chatRequest) reply {
			if n == 0 {
				return reply{status: 429, header: map[string]string{"Retry-After": "1"},
					body: `{"error":{"message":"Rate limit reached","type":"requests"}}`}
			}
			return reply{content: "ok"}
		})
		comp, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if err != nil || comp.Content != "ok" || comp.Attempts != 2 {
			t.Fatalf("%+v, %v", comp, err)
		}
		if gap := f.gap(); gap < 900*time.Millisecond {
			t.Errorf("retried after %v; the server said Retry-After: 1", gap)
		}
	})
	t.Run("retry-after-ms", func(t *testing.T) {
		f := newFakeOpenAI(t, func(n int, _ chatRequest) reply {
			if n == 0 {
				return reply{status: 429, header: map[string]string{"retry-after-ms": "150"}, body: `{"error":{"message":"slow down"}}`}
			}
			return reply{content: "ok"}
		})
		comp, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if err != nil || comp.Attempts != 2 {
			t.Fatalf("%+v, %v", comp, err)
		}
		if gap := f.gap(); gap < 140*time.Millisecond {
			t.Errorf("retried after %v; the server said retry-after-ms: 150", gap)
		}
	})
	t.Run("500 then success", func(t *testing.T) {
		f := newFakeOpenAI(t, func(n int, _ chatRequest) reply {
			if n < 2 {
				return reply{status: 500 + n*3, body: `{"error":{"message":"The server had an error","type":"server_error"}}`}
			}
			return reply{content: "ok"}
		})
		comp, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if err != nil || comp.Content != "ok" || comp.Attempts != 3 {
			t.Fatalf("%+v, %v", comp, err)
		}
	})
	t.Run("connection dropped then success", func(t *testing.T) {
		f := newFakeOpenAI(t, func(n int, _ chatRequest) reply {
			return reply{hangup: n == 0, content: "ok"}
		})
		comp, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if err != nil || comp.Attempts != 2 {
			t.Fatalf("%+v, %v", comp, err)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		f := newFakeOpenAI(t, func(int, chatRequest) reply {
			return reply{status: 503, body: `{"error":{"message":"overloaded","type":"server_error"}}`}
		})
		_, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if !errors.Is(err, ErrRetriesExhausted) || !strings.Contains(err.Error(), "overloaded") || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err %v; want ErrRetriesExhausted naming the 503 and its message", err)
		}
		if f.count() != 4 {
			t.Errorf("%d attempts, want MaxAttempts=4", f.count())
		}
	})
	t.Run("connection refused exhausts", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = testClient(t, "http://"+addr+"/v1", nil).Complete(ctx, msgs)
		if !errors.Is(err, ErrRetriesExhausted) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		f := newFakeOpenAI(t, func(int, chatRequest) reply {
			return reply{status: 400, body: `{"error":{"message":"This model's maximum context length is 4096 tokens","type":"invalid_request_error"}}`}
		})
		_, err := testClient(t, f.URL(), nil).Complete(ctx, msgs)
		if !errors.Is(err, ErrStatus) || !strings.Contains(err.Error(), "maximum context length") || f.count() != 1 {
			t.Fatalf("err %v after %d attempts", err, f.count())
		}
	})
	t.Run("context cancelled while waiting", func(t *testing.T) {
		f := newFakeOpenAI(t, func(int, chatRequest) reply {
			return reply{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{}`}
		})
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := testClient(t, f.URL(), nil).Complete(cctx, msgs)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
	})
}

func TestCompleteMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"bad JSON", `{"choices": [`, "not JSON"},
		{"HTML", `<html>502 Bad Gateway</html>`, "not JSON"},
		{"no choices", `{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}`, "no choices"},
		{"choices missing", `{"id":"x","object":"chat.completion"}`, "no choices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenAI(t, func(int, chatRequest) reply { return reply{body: tc.body} })
			_, err := testClient(t, f.URL(), nil).Complete(context.Background(), []Message{{Role: "user", Content: "go"}})
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v; want ErrBadResponse saying %q", err, tc.want)
			}
			if f.count() != 1 {
				t.Errorf("%d attempts; a malformed 200 is not retried", f.count())
			}
		})
	}
	t.Run("null content and no usage", func(t *testing.T) {
		f := newFakeOpenAI(t, func(int, chatRequest) reply {
			return reply{body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"length"}]}`}
		})
		comp, err := testClient(t, f.URL(), nil).Complete(context.Background(), []Message{{Role: "user", Content: "go"}})
		if err != nil || comp.Content != "" || comp.FinishReason != "length" || comp.Usage != (Usage{}) {
			t.Fatalf("%+v, %v", comp, err)
		}
	})
}

func TestNewClientValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "m"}, "base URL is empty"},
		{Config{BaseURL: "localhost:8000/v1", Model: "m"}, "http://"},
		{Config{BaseURL: "http://x/v1"}, "model is empty"},
		{Config{BaseURL: "http://x/v1", Model: "m", MaxTokens: -1}, "max tokens"},
	} {
		if _, err := NewClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	c := testClient(t, "http://127.0.0.1:1/v1", func(c *Config) { c.Backoff, c.MaxBackoff = 100*time.Millisecond, time.Second })
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for range 20 {
			if d := c.backoff(n); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
