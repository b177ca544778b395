// Package llm asks an OpenAI-compatible chat-completions endpoint (OpenAI,
// vLLM, llama.cpp's server, Ollama, SGLang, ...) for the next action of an
// env: Client speaks the protocol, Policy turns observations into prompts
// and replies into action strings.
//
// Only the documented request and response shape of POST
// {base}/chat/completions is used, so any server that implements it works:
//
//	request:  {"model", "messages": [{"role", "content"}], "temperature", "max_tokens", "stop"}
//	response: {"choices": [{"message": {"role", "content"}, "finish_reason"}],
//	           "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIKeyEnv is the environment variable the API key is read from
// when Config.APIKeyEnv is empty.
const DefaultAPIKeyEnv = "OPENAI_API_KEY"

// Errors callers branch on with errors.Is.
var (
	// ErrBadResponse: the server answered 200 but not with a chat
	// completion (malformed JSON, no choices). Not retried: a server that
	// speaks another protocol will not start speaking this one.
	ErrBadResponse = errors.New("llm: malformed chat-completion response")
	// ErrRetriesExhausted: every attempt failed with a retryable error
	// (429, 5xx, connection error).
	ErrRetriesExhausted = errors.New("llm: retries exhausted")
	// ErrStatus: the server refused the request with a non-retryable
	// status (400, 401, 404, ...); the error text carries its message.
	ErrStatus = errors.New("llm: request refused")
)

// Config configures a Client. The zero value of every field but BaseURL and
// Model has a useful default.
type Config struct {
	// BaseURL is the API root, e.g. https://api.openai.com/v1 or
	// http://127.0.0.1:8000/v1; the client POSTs to BaseURL/chat/completions.
	BaseURL string
	// Model is sent as "model".
	Model string
	// APIKey, when set, is sent as a bearer token. Otherwise the key is
	// read from the environment variable APIKeyEnv (default
	// OPENAI_API_KEY); it may be empty, as local servers need none.
	APIKey    string
	APIKeyEnv string
	// Temperature is always sent (0 is a meaningful value: greedy).
	Temperature float64
	// MaxTokens caps the reply; 0 leaves it to the server.
	MaxTokens int
	// Stop sequences, sent only when set.
	Stop []string
	// Timeout bounds each HTTP attempt (default 120s); the caller's
	// context bounds the whole call, retries included.
	Timeout time.Duration
	// MaxAttempts bounds the tries of one call, the first included
	// (default 5).
	MaxAttempts int
	// Backoff is the wait before the second attempt (default 500ms); it
	// doubles each attempt up to MaxBackoff (default 20s), with jitter.
	// A Retry-After header (or retry-after-ms) from the server wins.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// HTTPClient, when set, sends the requests (its Timeout is left alone).
	HTTPClient *http.Client
}

// Client calls a chat-completions endpoint. It is safe for concurrent use.
type Client struct {
	cfg    Config
	apiKey string
	url    string
	http   *http.Client
}

// NewClient checks cfg, fills in defaults and reads the API key.
func NewClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("llm: base URL is empty; want e.g. http://127.0.0.1:8000/v1")
	}
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("llm: base URL %q: want http:// or https://", cfg.BaseURL)
	}
	if cfg.Model == "" {
		return nil, errors.New("llm: model is empty; name the model the server serves")
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("llm: max tokens %d: want 0 (server default) or more", cfg.MaxTokens)
	}
	if cfg.APIKeyEnv == "" {
		cfg.APIKeyEnv = DefaultAPIKeyEnv
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 20 * time.Second
	}
	c := &Client{cfg: cfg, apiKey: cfg.APIKey, url: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions", http: cfg.HTTPClient}
	if c.apiKey == "" {
		c.apiKey = os.Getenv(cfg.APIKeyEnv)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return c, nil
}

// Model is the model the client asks for.
func (c *Client) Model() string { return c.cfg.Model }

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// Usage is the token count the server reports for one completion.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Completion is the answer to one call.
type Completion struct {
	Content      string
	FinishReason string // "stop", "length", ... as the server says
	Model        string // the model that answered, as the server says
	Usage        Usage
	Attempts     int           // HTTP attempts made, 1 when the first succeeded
	Latency      time.Duration // of the whole call, waits included
}

// request is the documented body of POST /chat/completions.
type request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
}

// response is the part of the documented answer we read. Content is a
// pointer because servers send null for replies without text.
type response struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// apiError is the documented error body: {"error": {"message", "type", "code"}}.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// Complete sends messages and returns the first choice. 429s, 5xx answers
// and connection errors are retried up to MaxAttempts times with
// exponential backoff and jitter (or the server's Retry-After); anything
// else fails at once with an error naming what was wrong.
func (c *Client) Complete(ctx context.Context, messages []Message) (Completion, error) {
	body, err := json.Marshal(request{
		Model:       c.cfg.Model,
		Messages:    messages,
		Temperature: c.cfg.Temperature,
		MaxTokens:   c.cfg.MaxTokens,
		Stop:        c.cfg.Stop,
	})
	if err != nil {
		return Completion{}, fmt.Errorf("llm: encode request: %w", err)
	}
	start := time.Now()
	var last error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		comp, retryAfter, err := c.attempt(ctx, body)
		if err == nil {
			comp.Attempts, comp.Latency = attempt, time.Since(start)
			return comp, nil
		}
		if ctx.Err() != nil {
			return Completion{}, fmt.Errorf("llm: POST %s: %w", c.url, ctx.Err())
		}
		var r *retryable
		if !errors.As(err, &r) {
			return Completion{}, err
		}
		last = err
		if attempt == c.cfg.MaxAttempts {
			break
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Completion{}, fmt.Errorf("llm: POST %s: waiting to retry after %v: %w", c.url, last, ctx.Err())
		case <-t.C:
		}
	}
	return Completion{}, fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, c.cfg.MaxAttempts, last)
}

// retryable marks errors worth another attempt.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// backoff is the wait after failed attempt n (1-based): Backoff·2^(n-1),
// capped at MaxBackoff, of which a random half is jitter so clients that
// failed together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.Backoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// attempt makes one HTTP request. It returns the server's Retry-After
// (0 when absent) with retryable errors.
func (c *Client) attempt(ctx context.Context, body []byte) (Completion, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Completion{}, 0, fmt.Errorf("llm: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Connection refused or reset, attempt timeout, ...: the server
		// may be starting or overloaded.
		return Completion{}, 0, &retryable{fmt.Errorf("llm: POST %s: %w", c.url, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return Completion{}, 0, &retryable{fmt.Errorf("llm: POST %s: read response: %w", c.url, err)}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("llm: POST %s: %s: %s", c.url, resp.Status, errorMessage(raw))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
			return Completion{}, retryAfter(resp.Header), &retryable{err}
		}
		return Completion{}, 0, fmt.Errorf("%w: %w", ErrStatus, err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		return Completion{}, 0, fmt.Errorf("%w: POST %s: body is not JSON (%w); it starts %q", ErrBadResponse, c.url, err, snippet(raw))
	}
	if len(r.Choices) == 0 {
		return Completion{}, 0, fmt.Errorf("%w: POST %s: no choices[0].message in %q", ErrBadResponse, c.url, snippet(raw))
	}
	ch := r.Choices[0]
	comp := Completion{FinishReason: ch.FinishReason, Model: r.Model}
	if ch.Message.Content != nil {
		comp.Content = *ch.Message.Content
	}
	if r.Usage != nil {
		comp.Usage = *r.Usage
		if comp.Usage.TotalTokens == 0 {
			comp.Usage.TotalTokens = comp.Usage.PromptTokens + comp.Usage.CompletionTokens
		}
	}
	return comp, 0, nil
}

// errorMessage is the message of a documented error body, or the start of
// whatever the body is.
func errorMessage(raw []byte) string {
	var e apiError
	if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
		if e.Error.Type != "" {
			return e.Error.Message + " (" + e.Error.Type + ")"
		}
		return e.Error.Message
	}
	if s := strings.TrimSpace(snippet(raw)); s != "" {
		return strconv.Quote(s)
	}
	return "empty body"
}

// retryAfter reads retry-after-ms (sent by OpenAI) or Retry-After in
// seconds or as an HTTP date; 0 when absent or unreadable. It is capped at
// ten minutes so a confused server cannot park the run.
func retryAfter(h http.Header) time.Duration {
	const maxWait = 10 * time.Minute
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return min(time.Duration(ms*float64(time.Millisecond)), maxWait)
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return min(time.Duration(s*float64(time.Second)), maxWait)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, maxWait)
		}
	}
	return 0
}

func snippet(raw []byte) string {
	const n = 200
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}
