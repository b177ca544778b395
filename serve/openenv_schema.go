package serve

import (
	"fmt"
	"strings"

	"github.com/envgym/envgym/gym"
)

// oeMetadata is OpenEnv's EnvironmentMetadata (types.py; extra fields are
// forbidden there, so the spec's details go into readme_content).
func oeMetadata(spec gym.Spec) map[string]any {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", spec.ID, spec.Description)
	if spec.ObservationSpace != "" {
		fmt.Fprintf(&b, "## Observations\n\n%s\n\n", spec.ObservationSpace)
	}
	if spec.ActionSpace != "" {
		fmt.Fprintf(&b, "## Actions\n\nSend `{\"action\": \"<action string>\"}`:\n\n```\n%s\n```\n\n", spec.ActionSpace)
	}
	if len(spec.Tasks) > 0 {
		b.WriteString("## Tasks (reset with `task`)\n\n")
		for _, t := range spec.Tasks {
			fmt.Fprintf(&b, "- `%s`: %s\n", t.ID, t.Description)
		}
		b.WriteString("\n")
	}
	if spec.MaxSteps > 0 {
		fmt.Fprintf(&b, "At most %d steps per episode (then truncated).\n\n", spec.MaxSteps)
	}
	b.WriteString("Each observation carries `status` (OK, INVALID_ACTION, ENV_ERROR, TIMEOUT, CRASHED), `terminated` and `truncated`; " +
		"`done` is either. Steps with an infrastructure status (`infra`: true) are not the agent's fault: drop them from the loss.\n")
	return map[string]any{
		"name":           spec.ID,
		"description":    spec.Description,
		"readme_content": b.String(),
		"version":        spec.Version,
		"author":         "envgym",
	}
}

// oeSchema is OpenEnv's SchemaResponse: JSON Schemas of the action, the
// observation and the state, derived from the spec.
func oeSchema(spec gym.Spec) map[string]any {
	statuses := []string{}
	for st := gym.StatusOK; st <= gym.StatusCrashed; st++ {
		statuses = append(statuses, st.String())
	}
	taskIDs := []any{}
	for _, t := range spec.Tasks {
		taskIDs = append(taskIDs, t.ID)
	}
	task := map[string]any{"type": []string{"string", "null"}, "description": "the task of the current episode"}
	if len(taskIDs) > 0 {
		task["enum"] = append(taskIDs, nil)
	}
	return map[string]any{
		"action": map[string]any{
			"title":       "Action",
			"type":        "object",
			"description": "One action of " + spec.ID + ".",
			"properties": map[string]any{
				"action":   map[string]any{"title": "Action", "type": "string", "description": spec.ActionSpace},
				"metadata": map[string]any{"title": "Metadata", "type": "object", "description": "Additional metadata for the action (ignored by the env)"},
			},
			"required":             []string{"action"},
			"additionalProperties": false,
		},
		"observation": map[string]any{
			"title":       "Observation",
			"type":        "object",
			"description": spec.ObservationSpace,
			"properties": map[string]any{
				"text":          map[string]any{"type": "string", "description": "what the agent reads"},
				"valid_actions": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "actions that parse and apply now, where the env can list them"},
				"screenshot":    map[string]any{"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png", "description": "present when the reset asked for screenshots and the env renders"},
				"status":        map[string]any{"type": "string", "enum": statuses, "description": "OK: the action executed; INVALID_ACTION: the agent's fault; ENV_ERROR, TIMEOUT, CRASHED: the infrastructure's"},
				"infra":         map[string]any{"type": "boolean", "description": "status is ENV_ERROR, TIMEOUT or CRASHED"},
				"terminated":    map[string]any{"type": "boolean", "description": "the task reached a terminal state"},
				"truncated":     map[string]any{"type": "boolean", "description": "the episode was cut short (step limit, infrastructure)"},
				"done":          map[string]any{"type": "boolean", "description": "terminated or truncated"},
				"reward":        map[string]any{"type": []string{"number", "null"}},
				"metadata":      map[string]any{"type": "object", "description": "the env's info"},
			},
			"required": []string{"text", "status", "terminated", "truncated"},
		},
		"state": map[string]any{
			"title": "State",
			"type":  "object",
			"properties": map[string]any{
				"episode_id":  map[string]any{"type": []string{"string", "null"}},
				"step_count":  map[string]any{"type": "integer", "minimum": 0},
				"env_id":      map[string]any{"type": "string", "const": spec.ID},
				"session_id":  map[string]any{"type": "string"},
				"task_id":     task,
				"seed":        map[string]any{"type": "integer"},
				"done":        map[string]any{"type": "boolean"},
				"last_status": map[string]any{"type": "string", "enum": statuses},
			},
			"required": []string{"step_count"},
		},
	}
}
