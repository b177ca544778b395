package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/envgym/envgym/gym"
)

// HTTPEnv is a gym.Env over the HTTP/JSON API: simpler than the stream
// (any HTTP client can do what it does), slower per step.
type HTTPEnv struct {
	base, token, id string
	spec            gym.Spec
	hc              *http.Client
	done            bool
}

// NewHTTPEnv creates env id on the server at base ("http://host:port").
func NewHTTPEnv(ctx context.Context, base, token, id string, opts map[string]any) (*HTTPEnv, error) {
	e := &HTTPEnv{base: base, token: token, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	var made makeResponse
	if err := e.do(ctx, "POST", "/v1/envs", makeRequest{EnvID: id, Options: opts}, &made); err != nil {
		return nil, err
	}
	e.id, e.spec = made.SessionID, made.Spec
	return e, nil
}

func (e *HTTPEnv) do(ctx context.Context, method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return fmt.Errorf("serve: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		se := &Error{Status: resp.StatusCode}
		_ = json.NewDecoder(resp.Body).Decode(se)
		return se
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Reset implements gym.Env.
func (e *HTTPEnv) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	var obs gym.Observation
	err := e.do(ctx, "POST", "/v1/envs/"+e.id+"/reset", opts, &obs)
	e.done = false
	return obs, err
}

// Step implements gym.Env.
func (e *HTTPEnv) Step(ctx context.Context, action string) (gym.StepResult, error) {
	if e.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	var r gym.StepResult
	if err := e.do(ctx, "POST", "/v1/envs/"+e.id+"/step", stepRequest{Action: &action}, &r); err != nil {
		return r, err
	}
	e.done = r.Done()
	return r, nil
}

// Spec implements gym.Env.
func (e *HTTPEnv) Spec() gym.Spec { return e.spec }

// Close implements gym.Env.
func (e *HTTPEnv) Close() error {
	e.done = true
	return e.do(context.Background(), "DELETE", "/v1/envs/"+e.id, nil, nil)
}
