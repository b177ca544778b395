package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

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
//	{"op":"oracle"}                                → {"action":"…"}, the env's scripted next action (gym serve --oracle)
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
	// Client is accepted from older clients and ignored: the identity is
	// the named token or the connection (identity.go).
	Client string `json:"client,omitempty"`
}

type streamResponse struct {
	SessionID   string           `json:"session_id,omitempty"`
	Spec        *gym.Spec        `json:"spec,omitempty"`
	Observation *gym.Observation `json:"observation,omitempty"`
	Result      *gym.StepResult  `json:"result,omitempty"`
	Closed      bool             `json:"closed,omitempty"`
	Action      string           `json:"action,omitempty"` // the oracle's`
	OK          bool             `json:"ok,omitempty"`
	Error       string           `json:"error,omitempty"`
	Field       string           `json:"field,omitempty"`
	Code        int              `json:"code,omitempty"`
}

// preAuthBytes bounds a request line before the connection has
// authenticated (an auth line is tiny): an unauthenticated peer gets no
// large buffer.
const preAuthBytes = 4 << 10

// ServeStream accepts stream connections until ln is closed. Connections
// over the limits (Config.MaxConns, MaxConnsPerAddr) get one error line
// and are closed.
func (s *Server) ServeStream(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		release, err := s.limiter.admit(c.RemoteAddr().String())
		if err != nil {
			s.metrics.refusedConns.Add(1)
			go refuseConn(c)
			continue
		}
		go func() {
			defer release()
			s.serveConn(c)
		}()
	}
}

func refuseConn(c net.Conn) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	b, _ := json.Marshal(streamResponse{Error: "too many connections (from your address, or in all); close some and retry", Code: 503})
	_, _ = c.Write(append(b, '\n'))
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
	// Until it authenticates, a connection gets small buffers and a small
	// line limit; every connection has AuthTimeout to send its first line.
	var client string // set once authenticated
	size := preAuthBytes
	if !s.hasToken() {
		client, size = addrIdentity(c.RemoteAddr().String()), 64<<10
	}
	r := bufio.NewReaderSize(c, size)
	w := bufio.NewWriterSize(c, size)
	enc := json.NewEncoder(w)
	limit, deadline := MaxRequestBytes, s.cfg.AuthTimeout
	if client == "" {
		limit = preAuthBytes
	}
	var sess *session
	defer func() {
		if sess != nil {
			s.closeSession(sess)
		}
	}()
	for {
		_ = c.SetReadDeadline(time.Now().Add(deadline))
		line, err := readLine(r, limit)
		if errors.Is(err, errLineTooLong) {
			s.metrics.streamRequests.Add(1)
			_ = enc.Encode(streamResponse{Error: fmt.Sprintf("request line too long (limit %d bytes%s)", limit, map[bool]string{true: " before auth"}[client == ""]), Code: 413})
			_ = w.Flush()
			return
		}
		if err != nil {
			return
		}
		s.metrics.streamRequests.Add(1)
		wasAuthed := client != ""
		resp := s.handleLine(ctx, line, c.RemoteAddr().String(), &client, &sess)
		if !wasAuthed && client != "" {
			r = bufio.NewReaderSize(r, 64<<10) // keeps what r has buffered
			w = bufio.NewWriterSize(c, 64<<10)
			enc = json.NewEncoder(w)
			limit = MaxRequestBytes
		}
		if client != "" {
			deadline = s.cfg.IdleTimeout
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
		if err := w.Flush(); err != nil || resp.Closed || resp.Code == 401 {
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	// Long lines (huge actions) are assembled, up to the limit.
	buf := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= limit {
		line, err = r.ReadSlice('\n')
		buf = append(buf, line...)
	}
	if len(buf) > limit {
		return nil, errLineTooLong
	}
	return buf, err
}

// handleLine answers one request. *client is empty until the connection
// has authenticated (on a tokenless server, from its start).
func (s *Server) handleLine(ctx context.Context, line []byte, remoteAddr string, client *string, sess **session) streamResponse {
	var req streamRequest
	if err := decode(bytes.NewReader(line), &req); err != nil {
		return errResponse(err)
	}
	if req.Op == "ping" {
		// Liveness, answered before auth (it says no more than accepting
		// the connection does): a pool probes a replica that has not
		// answered a long call, to tell a slow env from a frozen server.
		return streamResponse{OK: true}
	}
	if req.Op == "auth" {
		id, err := s.authenticate(req.Token, remoteAddr)
		if err != nil {
			return errResponse(err)
		}
		*client = id
		return streamResponse{OK: true}
	}
	if *client == "" {
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
		spec := ns.spec
		if !s.cfg.Oracle {
			// The oracle op is off: the client must not count on it.
			spec.Capabilities = slices.DeleteFunc(slices.Clone(spec.Capabilities), func(c string) bool { return c == "Oracle" })
		}
		return streamResponse{SessionID: ns.id, Spec: &spec}
	case "reset", "step", "oracle", "close":
		if *sess == nil {
			return errResponse(errorf(409, "op", `send {"op":"make","env_id":"…"} first`))
		}
	default:
		return errResponse(errorf(400, "op", "unknown op %q (want auth, make, reset, step, oracle, close or ping)", req.Op))
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
	case "oracle":
		a, err := s.oracle(ctx, *sess)
		if err != nil {
			return errResponse(err)
		}
		return streamResponse{Action: a}
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
