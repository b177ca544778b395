package serve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/envgym/envgym/gym"
)

// OpenEnvEnv is a gym.Env played over the OpenEnv WebSocket protocol (of
// gym serve, or of any OpenEnv server whose actions are {"action": …}):
// one connection, one env instance. It exists for Go callers and for
// `gym bench serve`, which times it against the stream transport.
type OpenEnvEnv struct {
	ws   *websocket.Conn
	spec gym.Spec

	mu     sync.Mutex
	closed bool
	live   bool // reset, and the episode not over
	done   bool
}

// OpenEnvError is an OpenEnv error reply.
type OpenEnvError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *OpenEnvError) Error() string { return "openenv: " + e.Message + " (code: " + e.Code + ")" }

// NewOpenEnvEnv connects to envID's OpenEnv base URL on the gym serve at
// serverURL (http://host:port).
func NewOpenEnvEnv(ctx context.Context, serverURL, token, envID string) (*OpenEnvEnv, error) {
	u := "ws" + strings.TrimPrefix(strings.TrimRight(serverURL, "/"), "http") + OpenEnvPath(envID) + "/ws"
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, fmt.Errorf("openenv: connect %s: %w", u, err)
	}
	c.SetReadLimit(64 << 20)
	spec, err := oeFetchSpec(ctx, serverURL, token, envID)
	if err != nil {
		c.CloseNow()
		return nil, err
	}
	return &OpenEnvEnv{ws: c, spec: spec}, nil
}

// oeFetchSpec reads what /metadata and /schema say of the env: its
// version, description and tasks.
func oeFetchSpec(ctx context.Context, serverURL, token, envID string) (gym.Spec, error) {
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(serverURL, "/")+OpenEnvPath(envID)+path, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("openenv %s: %w", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("openenv %s: HTTP %d", path, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var md struct{ Name, Description, Version string }
	var schema struct {
		State struct {
			Properties struct {
				TaskID struct {
					Enum []any `json:"enum"`
				} `json:"task_id"`
			} `json:"properties"`
		} `json:"state"`
	}
	if err := get("/metadata", &md); err != nil {
		return gym.Spec{}, err
	}
	if err := get("/schema", &schema); err != nil {
		return gym.Spec{}, err
	}
	sp := gym.Spec{ID: envID, Version: md.Version, Description: md.Description}
	for _, t := range schema.State.Properties.TaskID.Enum {
		if id, ok := t.(string); ok {
			sp.Tasks = append(sp.Tasks, gym.Task{ID: id})
		}
	}
	return sp, nil
}

func (e *OpenEnvEnv) call(ctx context.Context, typ string, data any) (*oeObsData, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, gym.ErrClosed
	}
	msg, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	if err := e.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("openenv %s: %w", typ, err)
	}
	_, raw, err := e.ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("openenv %s: %w", typ, err)
	}
	var resp struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("openenv %s: reply: %w", typ, err)
	}
	if resp.Type == "error" {
		var oe OpenEnvError
		if err := json.Unmarshal(resp.Data, &oe); err != nil {
			return nil, fmt.Errorf("openenv %s: error reply: %w", typ, err)
		}
		return nil, &oe
	}
	var d oeObsData
	if err := json.Unmarshal(resp.Data, &d); err != nil {
		return nil, fmt.Errorf("openenv %s: reply: %w", typ, err)
	}
	return &d, nil
}

// Reset starts an episode.
func (e *OpenEnvEnv) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	data := map[string]any{"seed": opts.Seed}
	if opts.TaskID != "" {
		data["task"] = opts.TaskID
	}
	if opts.Options != nil {
		data["options"] = opts.Options
	}
	d, err := e.call(ctx, "reset", data)
	if err != nil {
		var oe *OpenEnvError
		if errors.As(err, &oe) && oe.Code == oeValidationError && strings.Contains(oe.Message, "task") {
			return gym.Observation{}, fmt.Errorf("%w: %w", gym.ErrUnknownTask, err)
		}
		return gym.Observation{}, err
	}
	r, err := oeResult(d)
	e.mu.Lock()
	e.live, e.done = err == nil, false
	e.mu.Unlock()
	return r.Observation, err
}

// Step plays one action.
func (e *OpenEnvEnv) Step(ctx context.Context, action string) (gym.StepResult, error) {
	// The call order is kept here, as the other clients do, so misuse
	// is the contract's sentinel error without a round trip.
	e.mu.Lock()
	live, done := e.live, e.done
	e.mu.Unlock()
	switch {
	case done:
		return gym.StepResult{}, gym.ErrEpisodeDone
	case !live:
		return gym.StepResult{}, gym.ErrNotReset
	}
	d, err := e.call(ctx, "step", map[string]any{"action": action})
	if err != nil {
		return gym.StepResult{}, err
	}
	r, err := oeResult(d)
	if r.Done() {
		e.mu.Lock()
		e.done = true
		e.mu.Unlock()
	}
	return r, err
}

// oeResult reads serialize_observation's shape back into a StepResult.
func oeResult(d *oeObsData) (gym.StepResult, error) {
	o := d.Observation
	r := gym.StepResult{Observation: gym.Observation{Text: o.Text, ValidActions: o.ValidActions, Info: d.Metadata},
		Terminated: o.Terminated, Truncated: o.Truncated}
	if d.Reward != nil {
		r.Reward = *d.Reward
	}
	if o.Screenshot != "" {
		png, err := base64.StdEncoding.DecodeString(o.Screenshot)
		if err != nil {
			return r, fmt.Errorf("openenv: screenshot: %w", err)
		}
		r.Observation.Screenshot = png
	}
	st, err := gym.ParseStatus(o.Status)
	if err != nil {
		return r, fmt.Errorf("openenv: %w", err)
	}
	r.Status = st
	return r, nil
}

// Spec names the env id (the full spec is at the base URL's /metadata).
func (e *OpenEnvEnv) Spec() gym.Spec { return e.spec }

// Close ends the session; safe to call twice.
func (e *OpenEnvEnv) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	_ = e.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"close"}`))
	return e.ws.Close(websocket.StatusNormalClosure, "")
}
