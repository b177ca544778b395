package serve

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/envgym/envgym/gym"
)

// openenvRoutes adds every env id's OpenEnv base URL to mux (see
// openenv.go for the protocol), and Config.OpenEnvRoot's at the root.
func (s *Server) openenvRoutes(mux *http.ServeMux) {
	s.openenvRoutesAt(mux, "/openenv/{env}")
	if s.cfg.OpenEnvRoot != "" {
		// Clients that take a server's root as the base URL (verifiers'
		// OpenEnvEnv, one-env OpenEnv deployments) reach this env there.
		s.openenvRoutesAt(mux, "")
	}
}

func (s *Server) openenvRoutesAt(mux *http.ServeMux, base string) {
	mux.HandleFunc("GET "+base+"/health", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.oeSpecOr404(w, r); !ok {
			return
		}
		status := "healthy"
		if s.draining.Load() {
			status = "unhealthy"
		}
		writeJSON(w, 200, map[string]string{"status": status})
	})
	mux.HandleFunc("GET "+base+"/metadata", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		if spec, ok := s.oeSpecOr404(w, r); ok {
			writeJSON(w, 200, oeMetadata(spec))
		}
	}))
	mux.HandleFunc("GET "+base+"/schema", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		if spec, ok := s.oeSpecOr404(w, r); ok {
			writeJSON(w, 200, oeSchema(spec))
		}
	}))
	mux.HandleFunc("GET "+base+"/ws", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		if spec, ok := s.oeSpecOr404(w, r); ok {
			s.openenvWS(w, r, client, spec)
		}
	}))
	mux.HandleFunc("POST "+base+"/reset", s.auth(s.oeHTTPReset))
	mux.HandleFunc("POST "+base+"/step", s.auth(s.oeHTTPStep))
	mux.HandleFunc("GET "+base+"/state", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		spec, ok := s.oeSpecOr404(w, r)
		if !ok {
			return
		}
		id := r.URL.Query().Get("session_id")
		if id == "" {
			// OpenEnv's stateless /state: the state of a fresh env.
			writeJSON(w, 200, map[string]any{"episode_id": nil, "step_count": 0, "env_id": spec.ID})
			return
		}
		sess, err := s.oeHTTPSession(client, spec, id)
		if err != nil {
			writeOEErr(w, err)
			return
		}
		writeJSON(w, 200, sess.oe.state(sess))
	}))
	mux.HandleFunc("POST "+base+"/close", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		spec, ok := s.oeSpecOr404(w, r)
		if !ok {
			return
		}
		var req struct {
			SessionID string `json:"session_id"`
		}
		if err := decode(r.Body, &req); err != nil {
			writeOEErr(w, oeFromServe(err))
			return
		}
		sess, err := s.oeHTTPSession(client, spec, req.SessionID)
		if err != nil {
			writeOEErr(w, err)
			return
		}
		s.closeSession(sess)
		writeJSON(w, 200, map[string]any{"closed": sess.id})
	}))
}

func (s *Server) oeSpecOr404(w http.ResponseWriter, r *http.Request) (gym.Spec, bool) {
	slug := r.PathValue("env")
	if slug == "" { // the root mount
		slug = strings.TrimPrefix(OpenEnvPath(s.cfg.OpenEnvRoot), "/openenv/")
	}
	spec, ok := s.oeSpec(slug)
	if !ok {
		writeJSON(w, 404, map[string]any{"detail": "no env " + slug + " on this server; GET /v1/specs lists the env ids (base URL /openenv/<family>.<name>-vN)", "code": oeSessionError})
	}
	return spec, ok
}

// oeHTTPSession finds client's HTTP session id of spec's env.
func (s *Server) oeHTTPSession(client string, spec gym.Spec, id string) (*session, *oeError) {
	if id == "" {
		return nil, invalid("session_id", "missing", "session_id is required: POST /reset opens a session and returns it in metadata.session_id")
	}
	sess, err := s.get(client, id)
	if err != nil {
		return nil, oeFromServe(err)
	}
	if sess.spec.ID != spec.ID {
		return nil, &oeError{Status: 404, Code: oeSessionError, Msg: "session " + id + " plays " + sess.spec.ID + ", not " + spec.ID}
	}
	return sess, nil
}

// oeHTTPReset is POST /reset: it resets the session named by session_id,
// or opens a new one.
func (s *Server) oeHTTPReset(w http.ResponseWriter, r *http.Request, client string) {
	spec, ok := s.oeSpecOr404(w, r)
	if !ok {
		return
	}
	data, err := oeDecodeObject(r)
	if err != nil {
		writeOEErr(w, err)
		return
	}
	rs, oerr := parseReset(data, true)
	if oerr != nil {
		writeOEErr(w, oerr)
		return
	}
	var sess *session
	if rs.SessionID != "" {
		if sess, oerr = s.oeHTTPSession(client, spec, rs.SessionID); oerr != nil {
			writeOEErr(w, oerr)
			return
		}
	} else {
		ns, err := s.create(r.Context(), client, spec.ID, nil)
		if err != nil {
			oe := oeFromServe(err)
			if oe.Code == oeValidationError || oe.Code == oeExecutionError {
				oe.Code, oe.Issues = oeFactoryError, nil
			}
			writeOEErr(w, oe)
			return
		}
		sess = ns
	}
	out, err := s.oeResetSession(r.Context(), sess, &sess.oe, rs)
	if err != nil {
		if rs.SessionID == "" {
			s.closeSession(sess) // a session nobody learnt the id of
		}
		writeOEErr(w, err)
		return
	}
	out.Metadata = copyMap(out.Metadata)
	out.Metadata["session_id"] = sess.id
	w.Header().Set("X-Session-ID", sess.id)
	writeJSON(w, 200, out)
}

// oeHTTPStep is POST /step: OpenEnv's StepRequest plus session_id.
func (s *Server) oeHTTPStep(w http.ResponseWriter, r *http.Request, client string) {
	spec, ok := s.oeSpecOr404(w, r)
	if !ok {
		return
	}
	data, err := oeDecodeObject(r)
	if err != nil {
		writeOEErr(w, err)
		return
	}
	var id string
	var action map[string]any
	for k, v := range data {
		switch k {
		case "session_id":
			sid, ok := v.(string)
			if !ok {
				writeOEErr(w, invalid("session_id", "string_type", "session_id must be a string"))
				return
			}
			id = sid
		case "action":
			a, ok := v.(map[string]any)
			if !ok {
				writeOEErr(w, invalid("action", "dict_type", `"action" must be an object such as {"action": "click(12)"}, got %s`, jsonKind(v)))
				return
			}
			action = a
		case "timeout_s", "request_id":
			// Accepted as OpenEnv's StepRequest does; the server's own step
			// deadline applies.
		default:
			writeOEErr(w, invalid(k, "extra_forbidden", "unknown step field %q; accepted: action, session_id, timeout_s, request_id", k))
			return
		}
	}
	if action == nil {
		writeOEErr(w, invalid("action", "missing", `field "action" is required: {"action": {"action": "<action string>"}, "session_id": "…"}`))
		return
	}
	act, oerr := parseAction(action)
	if oerr != nil {
		oerr.Issues[0].Loc = append([]any{"action"}, oerr.Issues[0].Loc...)
		writeOEErr(w, oerr)
		return
	}
	sess, oerr := s.oeHTTPSession(client, spec, id)
	if oerr != nil {
		writeOEErr(w, oerr)
		return
	}
	out, err := s.oeStepSession(r.Context(), sess, &sess.oe, act)
	if err != nil {
		writeOEErr(w, err)
		return
	}
	writeJSON(w, 200, out)
}

// oeDecodeObject reads a JSON object body (empty: {}).
func oeDecodeObject(r *http.Request) (map[string]any, error) {
	var data map[string]any
	if err := decode(r.Body, &data); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == 413 {
			return nil, &oeError{Status: 413, Code: oeValidationError, Msg: e.Msg}
		}
		return nil, &oeError{Status: 400, Code: oeInvalidJSON, Msg: err.Error()}
	}
	if data == nil {
		data = map[string]any{}
	}
	return data, nil
}

// writeOEErr answers as FastAPI does ({"detail": …}), with OpenEnv's code
// beside it: validation errors carry pydantic's issue list.
func writeOEErr(w http.ResponseWriter, err error) {
	oe := oeFromServe(err)
	status := oe.Status
	if status == 0 {
		status = 500
	}
	body := map[string]any{"detail": oe.Msg, "code": oe.Code}
	if len(oe.Issues) > 0 {
		body["detail"] = oe.Issues
		body["message"] = oe.Msg
	}
	writeJSON(w, status, body)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// oeJSON encodes an OpenEnv WebSocket message.
func oeJSON(typ string, data any) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	if err != nil {
		b, _ = json.Marshal(map[string]any{"type": "error", "data": map[string]any{"message": "encode reply: " + err.Error(), "code": oeExecutionError}})
	}
	return b
}
