package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"

	"github.com/envgym/envgym/gym"
)

// The stream transport: one TCP connection is one env session; each line
// is a JSON request, answered by one JSON line. No HTTP framing, so a step
// costs little more than the env itself. Ops:
//
//	{"op":"auth","token":"…"}                      first, when the server has a token
//	{"op":"make","env_id":"…","options":{…}}       → {"session_id","spec"}
//	{"op":"reset","seed":1,"task_id":"…"}          → {"observation":{…}}
//	{"op":"step","action":"…"}                     → {"result":{…}}
//	{"op":"close"}                                 → {"closed":true}, then the server hangs up
//
// Errors come back as {"error":"…","field":"…","code":400} and the
// connection stays usable.
type streamRequest struct {
	Op      string         `json:"op"`
	Token   string         `json:"token,omitempty"`
	EnvID   string         `json:"env_id,omitempty"`
	Options map[string]any `json:"options,omitempty"`
	Seed    int64          `json:"seed,omitempty"`
	TaskID  string         `json:"task_id,omitempty"`
	Action  *string        `json:"action,omitempty"`
	Client  string         `json:"client,omitempty"` // as X-Client-ID
}

type streamResponse struct {
	SessionID   string           `json:"session_id,omitempty"`
	Spec        *gym.Spec        `json:"spec,omitempty"`
	Observation *gym.Observation `json:"observation,omitempty"`
	Result      *gym.StepResult  `json:"result,omitempty"`
	Closed      bool             `json:"closed,omitempty"`
	OK          bool             `json:"ok,omitempty"`
	Error       string           `json:"error,omitempty"`
	Field       string           `json:"field,omitempty"`
	Code        int              `json:"code,omitempty"`
}

// ServeStream accepts stream connections until ln is closed.
func (s *Server) ServeStream(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	enc := json.NewEncoder(w)
	authed := s.cfg.Token == ""
	client, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	var sess *session
	defer func() {
		if sess != nil {
			s.closeSession(sess)
		}
	}()
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Long lines (huge actions) are assembled, up to the limit.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= MaxRequestBytes {
				line, err = r.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
			if len(buf) > MaxRequestBytes {
				s.metrics.streamRequests.Add(1)
				_ = enc.Encode(streamResponse{Error: "request line too long", Code: 413})
				_ = w.Flush()
				return
			}
		}
		if err != nil {
			return
		}
		s.metrics.streamRequests.Add(1)
		resp := s.handleLine(ctx, line, &authed, &client, &sess)
		if err := enc.Encode(resp); err != nil {
			return
		}
		if err := w.Flush(); err != nil || resp.Closed || resp.Code == 401 {
			return
		}
	}
}

func (s *Server) handleLine(ctx context.Context, line []byte, authed *bool, client *string, sess **session) streamResponse {
	var req streamRequest
	if err := decode(bytes.NewReader(line), &req); err != nil {
		return errResponse(err)
	}
	if req.Op == "auth" {
		if !s.authorized(req.Token) {
			s.metrics.unauthorized.Add(1)
			return errResponse(errorf(401, "token", "wrong token"))
		}
		*authed = true
		if req.Client != "" {
			*client = req.Client
		}
		return streamResponse{OK: true}
	}
	if !*authed {
		s.metrics.unauthorized.Add(1)
		return errResponse(errorf(401, "op", `send {"op":"auth","token":"…"} first`))
	}
	switch req.Op {
	case "make":
		if *sess != nil {
			return errResponse(errorf(409, "op", "this connection already has an env; open another connection for another env"))
		}
		ns, err := s.create(ctx, *client, req.EnvID, req.Options)
		if err != nil {
			return errResponse(err)
		}
		*sess = ns
		return streamResponse{SessionID: ns.id, Spec: &ns.spec}
	case "reset", "step", "close":
		if *sess == nil {
			return errResponse(errorf(409, "op", `send {"op":"make","env_id":"…"} first`))
		}
	default:
		return errResponse(errorf(400, "op", "unknown op %q (want auth, make, reset, step or close)", req.Op))
	}
	(*sess).lastUsed.Store(nowNano())
	switch req.Op {
	case "reset":
		obs, err := s.reset(ctx, *sess, gym.ResetOptions{Seed: req.Seed, TaskID: req.TaskID, Options: req.Options})
		if err != nil {
			return errResponse(err)
		}
		return streamResponse{Observation: &obs}
	case "step":
		if req.Action == nil {
			return errResponse(errorf(400, "action", "action is required"))
		}
		res, err := s.step(ctx, *sess, *req.Action)
		if err != nil {
			return errResponse(err)
		}
		return streamResponse{Result: &res}
	default: // close
		s.closeSession(*sess)
		*sess = nil
		return streamResponse{Closed: true}
	}
}

func errResponse(err error) streamResponse {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: 500, Msg: err.Error()}
	}
	return streamResponse{Error: e.Msg, Field: e.Field, Code: e.Status}
}
