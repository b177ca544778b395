package serve

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/envgym/envgym/gym"
)

// The OpenEnv transport speaks meta-pytorch/OpenEnv's env server protocol
// (src/openenv/core/env_server/{http_server,types,serialization}.py), so
// OpenEnv clients, TRL and verifiers use served envs with configuration
// alone. Every env id gets a base URL, because OpenEnv clients append
// /ws, /reset, … to the base URL they are given:
//
//	/openenv/<family>.<name>-vN          e.g. /openenv/web.shop-v0
//	  GET  /health   {"status":"healthy"}           (no auth, as /healthz)
//	  GET  /metadata name, description, version, readme_content
//	  GET  /schema   JSON Schemas of action, observation and state
//	  WS   /ws       one env instance per connection
//	  POST /reset    {seed?, episode_id?, task?, options?, screenshot?, session_id?}
//	  POST /step     {"action": {"action": "click(12)"}, "session_id": …}
//	  GET  /state    ?session_id=…
//	  POST /close    {"session_id": …}                (ours: OpenEnv's HTTP has no sessions)
//
// OpenEnv's own HTTP /reset and /step build a fresh env per request, which
// cannot play a stateful episode; ours open a session on /reset and name
// it in the response (metadata.session_id and the X-Session-ID header),
// and /step and /state take it back. The request models allow such extra
// fields (ResetRequest and StepRequest are extra="allow").
//
// Observations keep our contract: status (OK, INVALID_ACTION, ENV_ERROR,
// TIMEOUT, CRASHED) and terminated/truncated stay apart inside the
// observation, "done" is either, info travels as metadata. An
// infrastructure failure is thus never a plain reward of 0.

// OpenEnv error codes (types.py WSErrorCode).
const (
	oeInvalidJSON     = "INVALID_JSON"
	oeUnknownType     = "UNKNOWN_TYPE"
	oeValidationError = "VALIDATION_ERROR"
	oeExecutionError  = "EXECUTION_ERROR"
	oeCapacityReached = "CAPACITY_REACHED"
	oeFactoryError    = "FACTORY_ERROR"
	oeSessionError    = "SESSION_ERROR"
)

// OpenEnvPath is the base URL path of env id on a served handler.
func OpenEnvPath(envID string) string {
	return "/openenv/" + strings.Replace(envID, "/", ".", 1)
}

// oeIssue is one validation problem, in pydantic's error shape
// (type, loc, msg), so OpenEnv clients print it as they print theirs.
type oeIssue struct {
	Type string `json:"type"`
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
}

// oeError is an OpenEnv error: a code, a message and, for validation
// errors, the issues.
type oeError struct {
	Status int // for HTTP replies
	Code   string
	Msg    string
	Issues []oeIssue
	Extra  map[string]any
}

func (e *oeError) Error() string { return e.Code + ": " + e.Msg }

func (e *oeError) data() map[string]any {
	d := map[string]any{"message": e.Msg, "code": e.Code}
	if len(e.Issues) > 0 {
		d["errors"] = e.Issues
	}
	for k, v := range e.Extra {
		d[k] = v
	}
	return d
}

func invalid(loc, typ, format string, args ...any) *oeError {
	msg := fmt.Sprintf(format, args...)
	return &oeError{Status: 422, Code: oeValidationError, Msg: msg, Issues: []oeIssue{{Type: typ, Loc: []any{loc}, Msg: msg}}}
}

// oeFromServe maps a session error of the shared server code to an
// OpenEnv code: the client's input, a dead session, capacity, or the
// env's failure.
func oeFromServe(err error) *oeError {
	var oe *oeError
	if errors.As(err, &oe) {
		return oe
	}
	var e *Error
	if !errors.As(err, &e) {
		return &oeError{Status: 500, Code: oeExecutionError, Msg: err.Error()}
	}
	switch {
	case e.Status == 400:
		loc := e.Field
		if loc == "task_id" {
			loc = "task"
		}
		return &oeError{Status: 422, Code: oeValidationError, Msg: e.Msg, Issues: []oeIssue{{Type: "value_error", Loc: []any{loc}, Msg: e.Msg}}}
	case e.Status == 404:
		return &oeError{Status: 404, Code: oeSessionError, Msg: e.Msg}
	case e.Status == 429 || e.Status == 503:
		return &oeError{Status: e.Status, Code: oeCapacityReached, Msg: e.Msg}
	}
	return &oeError{Status: e.Status, Code: oeExecutionError, Msg: e.Msg}
}

// oeEpisode is OpenEnv's State of one session: the episode id and step
// count, plus what a client needs to know where it stands.
type oeEpisode struct {
	mu         sync.Mutex
	episodeID  string
	steps      int
	taskID     string
	seed       int64
	done       bool
	lastStatus gym.Status
	screenshot bool // the client asked for screenshots in observations
}

func (ep *oeEpisode) state(sess *session) map[string]any {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	st := map[string]any{
		"episode_id": nil, "step_count": ep.steps,
		"env_id": sess.spec.ID, "session_id": sess.id,
		"done": ep.done,
	}
	if ep.episodeID != "" {
		st["episode_id"] = ep.episodeID
		st["task_id"] = ep.taskID
		st["seed"] = ep.seed
		st["last_status"] = ep.lastStatus.String()
	}
	return st
}

// oeReset is the data of a reset: OpenEnv's ResetRequest fields plus ours.
type oeReset struct {
	Seed       int64
	EpisodeID  string
	Task       string
	Options    map[string]any
	Screenshot bool
	SessionID  string // HTTP only
}

var oeResetFields = []string{"seed", "episode_id", "task", "task_id", "options", "screenshot"}

// parseReset validates reset data. Unknown fields are refused, naming the
// accepted ones, rather than silently ignored: a typo in a task name
// would otherwise train on the wrong task.
func parseReset(data map[string]any, allowSession bool) (oeReset, *oeError) {
	var r oeReset
	for k, v := range data {
		switch k {
		case "seed":
			f, ok := v.(float64)
			if v == nil {
				continue
			}
			if !ok || f != float64(int64(f)) || f < 0 {
				return r, invalid("seed", "int_type", "seed must be a non-negative integer, got %s", jsonKind(v))
			}
			r.Seed = int64(f)
		case "episode_id":
			s, ok := v.(string)
			if v == nil {
				continue
			}
			if !ok || len(s) > 255 {
				return r, invalid("episode_id", "string_type", "episode_id must be a string of at most 255 characters")
			}
			r.EpisodeID = s
		case "task", "task_id":
			s, ok := v.(string)
			if v == nil {
				continue
			}
			if !ok {
				return r, invalid(k, "string_type", "%s must be a string (a task id of the env's spec), got %s", k, jsonKind(v))
			}
			r.Task = s
		case "options":
			m, ok := v.(map[string]any)
			if v == nil {
				continue
			}
			if !ok {
				return r, invalid("options", "dict_type", "options must be an object of env-specific reset options, got %s", jsonKind(v))
			}
			r.Options = m
		case "screenshot":
			b, ok := v.(bool)
			if !ok {
				return r, invalid("screenshot", "bool_type", "screenshot must be true or false, got %s", jsonKind(v))
			}
			r.Screenshot = b
		case "session_id":
			s, ok := v.(string)
			if !allowSession || !ok {
				return r, invalid("session_id", "extra_forbidden", "session_id is only accepted by HTTP /reset (a WebSocket connection is its own session)")
			}
			r.SessionID = s
		default:
			return r, invalid(k, "extra_forbidden", "unknown reset field %q; accepted: %s", k, strings.Join(oeResetFields, ", "))
		}
	}
	return r, nil
}

// parseAction reads the action of a step: OpenEnv's Action model for our
// envs is {"action": "<action string>", "metadata"?: {…}}.
func parseAction(data map[string]any) (string, *oeError) {
	for k := range data {
		if k != "action" && k != "metadata" {
			return "", invalid(k, "extra_forbidden", `unknown action field %q; an action is {"action": "<action string>"} (see /schema)`, k)
		}
	}
	v, ok := data["action"]
	if !ok {
		return "", invalid("action", "missing", `field "action" is required: {"action": "<action string>"} (see /schema)`)
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("action", "string_type", `"action" must be a string such as "click(12)", got %s`, jsonKind(v))
	}
	if m, ok := data["metadata"]; ok && m != nil {
		if _, ok := m.(map[string]any); !ok {
			return "", invalid("metadata", "dict_type", `"metadata" must be an object, got %s`, jsonKind(m))
		}
	}
	return s, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// oeObs is an observation's own fields; oeObsData is
// serialize_observation's shape: the observation, with reward, done and
// metadata beside it. Structs, not maps: this is every step's reply.
type oeObs struct {
	Text         string   `json:"text"`
	ValidActions []string `json:"valid_actions"`
	Screenshot   string   `json:"screenshot,omitempty"`
	Status       string   `json:"status"`
	Infra        bool     `json:"infra"`
	Terminated   bool     `json:"terminated"`
	Truncated    bool     `json:"truncated"`
}

type oeObsData struct {
	Observation oeObs          `json:"observation"`
	Reward      *float64       `json:"reward"` // null at reset, as OpenEnv's
	Done        bool           `json:"done"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

func oeObservation(obs gym.Observation, reward *float64, status gym.Status, terminated, truncated, screenshot bool) *oeObsData {
	d := &oeObsData{
		Observation: oeObs{Text: obs.Text, ValidActions: obs.ValidActions, Status: status.String(), Infra: status.Infra(),
			Terminated: terminated, Truncated: truncated},
		Reward: reward, Done: terminated || truncated, Metadata: obs.Info,
	}
	if d.Observation.ValidActions == nil {
		d.Observation.ValidActions = []string{}
	}
	if screenshot && len(obs.Screenshot) > 0 {
		d.Observation.Screenshot = base64.StdEncoding.EncodeToString(obs.Screenshot)
	}
	return d
}

// oeSpec finds the spec whose OpenEnv slug is slug.
func (s *Server) oeSpec(slug string) (gym.Spec, bool) {
	for _, sp := range s.maker.Specs() {
		if OpenEnvPath(sp.ID) == "/openenv/"+slug {
			return sp, true
		}
	}
	return gym.Spec{}, false
}

// oeResetSession resets sess with r and records the episode.
func (s *Server) oeResetSession(ctx context.Context, sess *session, ep *oeEpisode, rs oeReset) (*oeObsData, error) {
	obs, err := s.reset(ctx, sess, gym.ResetOptions{Seed: rs.Seed, TaskID: rs.Task, Options: rs.Options})
	if err != nil {
		return nil, oeFromServe(err)
	}
	if rs.Screenshot && len(obs.Screenshot) == 0 {
		obs.Screenshot = s.oeScreenshot(ctx, sess)
	}
	ep.mu.Lock()
	ep.episodeID = rs.EpisodeID
	if ep.episodeID == "" {
		ep.episodeID = newID()
	}
	ep.steps, ep.taskID, ep.seed, ep.done, ep.lastStatus, ep.screenshot = 0, rs.Task, rs.Seed, false, gym.StatusOK, rs.Screenshot
	ep.mu.Unlock()
	return oeObservation(obs, nil, gym.StatusOK, false, false, rs.Screenshot), nil
}

// oeStepSession plays one action on sess.
func (s *Server) oeStepSession(ctx context.Context, sess *session, ep *oeEpisode, action string) (*oeObsData, error) {
	res, err := s.step(ctx, sess, action)
	if err != nil {
		return nil, oeFromServe(err)
	}
	ep.mu.Lock()
	shot := ep.screenshot
	ep.steps++
	ep.done, ep.lastStatus = res.Done(), res.Status
	ep.mu.Unlock()
	if shot && len(res.Observation.Screenshot) == 0 && !res.Done() {
		res.Observation.Screenshot = s.oeScreenshot(ctx, sess)
	}
	return oeObservation(res.Observation, &res.Reward, res.Status, res.Terminated, res.Truncated, shot), nil
}

// oeScreenshot renders the session's state when its env can; a failure
// leaves the observation without a screenshot rather than failing it.
func (s *Server) oeScreenshot(ctx context.Context, sess *session) []byte {
	shot, ok := gym.Capable[gym.Screenshotter](sess.env)
	if !ok {
		return nil
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return nil
	}
	png, err := shot.Screenshot(ctx)
	if err != nil {
		return nil
	}
	return png
}
