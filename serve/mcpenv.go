package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/envgym/envgym/gym"
)

// MCPEnv is a gym.Env over an MCP server of gym serve (one MCP session,
// the generic reset and step tools), through the official MCP Go SDK
// client: what `gym bench serve` measures and a Go agent could use.
type MCPEnv struct {
	cs   *mcp.ClientSession
	spec gym.Spec
	done bool
}

// NewMCPEnv opens an MCP session on endpoint (http://host:port/mcp/ENV_ID)
// with token (empty: none).
func NewMCPEnv(ctx context.Context, endpoint, token string, spec gym.Spec) (*MCPEnv, error) {
	hc := &http.Client{}
	if token != "" {
		hc.Transport = bearerTransport{token: token, next: http.DefaultTransport}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "envgym", Version: spec.Version}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	if err != nil {
		return nil, fmt.Errorf("serve: mcp connect %s: %w", endpoint, err)
	}
	return &MCPEnv{cs: cs, spec: spec}, nil
}

type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func (e *MCPEnv) call(ctx context.Context, tool string, args map[string]any) (gym.StepResult, error) {
	res, err := e.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return gym.StepResult{}, fmt.Errorf("serve: mcp %s: %w", tool, err)
	}
	if res.StructuredContent == nil {
		msg := "no result"
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*mcp.TextContent); ok {
				msg = tc.Text
			}
		}
		return gym.StepResult{}, fmt.Errorf("serve: mcp %s: %s", tool, msg)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return gym.StepResult{}, err
	}
	var out stepOutput
	if err := json.Unmarshal(b, &out); err != nil {
		return gym.StepResult{}, fmt.Errorf("serve: mcp %s: structured content: %w", tool, err)
	}
	st, err := gym.ParseStatus(out.Status)
	if err != nil {
		return gym.StepResult{}, fmt.Errorf("serve: mcp %s: %w", tool, err)
	}
	return gym.StepResult{Observation: gym.Observation{Text: out.Observation, ValidActions: out.ValidActions, Info: out.Info},
		Reward: out.Reward, Terminated: out.Terminated, Truncated: out.Truncated, Status: st}, nil
}

// Reset implements gym.Env.
func (e *MCPEnv) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	args := map[string]any{"seed": opts.Seed}
	if opts.TaskID != "" {
		args["task"] = opts.TaskID
	}
	if opts.Options != nil {
		args["options"] = opts.Options
	}
	r, err := e.call(ctx, "reset", args)
	e.done = false
	return r.Observation, err
}

// Step implements gym.Env.
func (e *MCPEnv) Step(ctx context.Context, action string) (gym.StepResult, error) {
	if e.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	r, err := e.call(ctx, "step", map[string]any{"action": action})
	e.done = err == nil && r.Done()
	return r, err
}

// Spec implements gym.Env.
func (e *MCPEnv) Spec() gym.Spec { return e.spec }

// Close ends the MCP session (and so the env on the server).
func (e *MCPEnv) Close() error {
	e.done = true
	if err := e.cs.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
