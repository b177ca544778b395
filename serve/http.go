package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
)

// MaxRequestBytes bounds a request body (an action or options).
const MaxRequestBytes = 4 << 20

type makeRequest struct {
	EnvID   string         `json:"env_id"`
	Options map[string]any `json:"options,omitempty"`
}

type makeResponse struct {
	SessionID string   `json:"session_id"`
	Spec      gym.Spec `json:"spec"`
}

type stepRequest struct {
	Action *string `json:"action"`
}

// Handler is the HTTP/JSON API:
//
//	GET    /healthz                   liveness (no auth)
//	GET    /metrics                   Prometheus text format
//	GET    /v1/specs                  every env id the server can make
//	POST   /v1/envs                   {"env_id", "options"} → {"session_id", "spec"}
//	GET    /v1/envs                   the caller's sessions
//	POST   /v1/envs/{id}/reset        {"seed", "task_id", "options"} → observation
//	POST   /v1/envs/{id}/step         {"action"} → step result
//	DELETE /v1/envs/{id}              close
//
// Errors are {"error": "...", "field": "..."} with a matching status code.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"ok": true, "draining": s.draining.Load(), "sessions": s.Sessions()})
	})
	mux.HandleFunc("GET /metrics", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.metrics.write(w)
	}))
	mux.HandleFunc("GET /v1/specs", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, 200, s.maker.Specs())
	}))
	mux.HandleFunc("POST /v1/envs", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		var req makeRequest
		if err := decode(r.Body, &req); err != nil {
			writeErr(w, err)
			return
		}
		sess, err := s.create(r.Context(), client, req.EnvID, req.Options)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 201, makeResponse{SessionID: sess.id, Spec: sess.spec})
	}))
	mux.HandleFunc("GET /v1/envs", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		writeJSON(w, 200, s.list(client))
	}))
	mux.HandleFunc("POST /v1/envs/{id}/reset", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		sess, err := s.get(client, r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		var req gym.ResetOptions
		if err := decode(r.Body, &req); err != nil {
			writeErr(w, err)
			return
		}
		obs, err := s.reset(r.Context(), sess, req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, obs)
	}))
	mux.HandleFunc("POST /v1/envs/{id}/step", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		sess, err := s.get(client, r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		var req stepRequest
		if err := decode(r.Body, &req); err != nil {
			writeErr(w, err)
			return
		}
		if req.Action == nil {
			writeErr(w, errorf(400, "action", "action is required (a string; the env judges its content)"))
			return
		}
		res, err := s.step(r.Context(), sess, *req.Action)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, res)
	}))
	mux.HandleFunc("DELETE /v1/envs/{id}", s.auth(func(w http.ResponseWriter, r *http.Request, client string) {
		sess, err := s.get(client, r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		s.closeSession(sess)
		writeJSON(w, 200, map[string]any{"closed": sess.id})
	}))
	// MCP's streamable HTTP transport, one endpoint per env id (mcp.go).
	mux.Handle("/mcp/{family}/{name}", s.mcp.handler)
	s.openenvRoutes(mux)  // /openenv/<env>/… (openenv_http.go)
	s.retrieveRoutes(mux) // POST /retrieve (retrieve.go)
	return http.MaxBytesHandler(mux, MaxRequestBytes)
}

// auth authenticates the request (authHTTP) and passes the client
// identity on. Headers such as X-Client-ID are ignored: the identity is
// the named token or the connection's address.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.metrics.httpRequests.Add(1)
		client, err := s.authHTTP(r)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status == 401 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="envgym"`)
			}
			writeErr(w, err)
			return
		}
		h(w, r, client)
	}
}

// HTTPServer returns an http.Server for Handler with deadlines, so a slow
// or idle client cannot hold a connection forever. Serve it on
// LimitListener(ln) to bound the number of connections too.
//
// No ReadTimeout: net/http cancels a request's context when it passes,
// which would cut long steps and MCP's event streams. A request body gets
// Config.BodyTimeout instead, cleared once it is read.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(s.Handler(), s.cfg.BodyTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// bodyDeadline gives a request with a body d to send it all.
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &clearOnEOF{ReadCloser: r.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// clearOnEOF calls clear once the body has been read to its end: the
// server then watches the connection for the client going away, and a
// deadline left in place would cancel the request.
type clearOnEOF struct {
	io.ReadCloser
	clear func()
	done  bool
}

func (b *clearOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done { // a deadline passed stays: the connection is done
		b.done = true
		b.clear()
	}
	return n, err
}

// decode reads strict JSON: unknown fields and type mismatches name the
// field at fault.
func decode(body io.Reader, v any) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return errorf(413, "", "request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errorf(400, "", "request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return errorf(400, te.Field, "field %q must be %s, got %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return errorf(400, "", "malformed JSON at byte %d: %v", se.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(400, f, "unknown field %q", f)
	}
	return errorf(400, "", "bad JSON: %v", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: 500, Msg: err.Error()}
	}
	writeJSON(w, e.Status, e)
}
