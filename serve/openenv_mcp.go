package serve

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/envgym/envgym/gym"
)

// OpenEnv's {"type":"mcp","data":<JSON-RPC>} message (mcp_types.py
// WSMCPMessage) reaches the connection's env through tools: the same
// action tools as the MCP transport (deriveActionTools, mcptools.go), each
// rendered into one action string and played as one step. An env whose
// grammar has no call forms gets the generic "act" tool (one action
// string): OpenEnv reserves the names reset, step, state and close.
// Errors follow JSON-RPC 2.0: -32601 unknown method, -32602 bad params or
// unknown tool; an action the env refuses is a result with isError, as
// MCP reports tool failures.

const oeActTool = "act"

// oeTools lists the tools of sess's env, in MCP's Tool shape.
func (s *Server) oeTools(sess *session) []map[string]any {
	var out []map[string]any
	for _, t := range deriveActionTools(sess.spec.ActionSpace) {
		if t.name == "reset" || t.name == "step" || t.name == "state" || t.name == "close" {
			continue
		}
		out = append(out, map[string]any{"name": t.name, "description": t.description(sess.spec.ID), "inputSchema": t.schema()})
	}
	if len(out) > 0 {
		return out
	}
	return []map[string]any{{
		"name":        oeActTool,
		"description": "Play one action in " + sess.spec.ID + " and get the next observation.\n\n" + sess.spec.ActionSpace + "\n" + resultDoc,
		"inputSchema": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"action": map[string]any{"type": "string", "description": "one action, as the grammar above"},
			},
			"required":             []string{"action"},
			"additionalProperties": false,
		},
	}}
}

// oeToolAction renders a tool call into the action it stands for.
func oeToolAction(spec gym.Spec, name string, args map[string]any) (string, error) {
	tools := deriveActionTools(spec.ActionSpace)
	if len(tools) == 0 && name == oeActTool {
		act, ok := args["action"].(string)
		if !ok {
			return "", fmt.Errorf(`tool act needs {"action": "<action string>"}`)
		}
		return act, nil
	}
	for _, t := range tools {
		if t.name == name {
			return t.render(args)
		}
	}
	return "", fmt.Errorf("unknown tool %s; tools/list names the tools", jsonString(name))
}

// oeMCP answers one JSON-RPC request on sess.
func (s *Server) oeMCP(ctx context.Context, sess *session, req map[string]any) map[string]any {
	id := req["id"]
	rpcErr := func(code int, msg string) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}}
	}
	result := func(v any) map[string]any { return map[string]any{"jsonrpc": "2.0", "id": id, "result": v} }
	method, _ := req["method"].(string)
	params, _ := req["params"].(map[string]any)
	switch method {
	case "tools/list":
		return result(map[string]any{"tools": s.oeTools(sess)})
	case "tools/call":
		name, _ := params["name"].(string)
		args, _ := params["arguments"].(map[string]any)
		act, err := oeToolAction(sess.spec, name, args)
		if err != nil {
			return rpcErr(-32602, err.Error())
		}
		out, err := s.oeStepSession(ctx, sess, &sess.oe, act)
		if err != nil {
			e := oeFromServe(err)
			return result(map[string]any{"content": []map[string]any{{"type": "text", "text": e.Msg}}, "isError": true,
				"structuredContent": e.data()})
		}
		return result(map[string]any{
			"content":           []map[string]any{{"type": "text", "text": out.Observation.Text}},
			"structuredContent": out,
			"isError":           out.Observation.Status != gym.StatusOK.String(),
		})
	case "":
		return rpcErr(-32600, `invalid request: "method" is required`)
	}
	return rpcErr(-32601, "method not found: "+method+" (want tools/list or tools/call)")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
