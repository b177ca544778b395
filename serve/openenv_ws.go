package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/envgym/envgym/gym"
)

// oeMessage is one client message (types.py WSResetMessage, WSStepMessage,
// WSStateMessage, WSCloseMessage; mcp_types.py WSMCPMessage).
type oeMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// oeWriteTimeout bounds one reply, so a client that stops reading cannot
// hold the session's goroutine forever.
const oeWriteTimeout = 30 * time.Second

// openenvWS serves one OpenEnv WebSocket connection: one env instance,
// made when the connection opens and closed when it ends, as OpenEnv's
// websocket_endpoint does. Errors in a message are answered with
// {"type":"error"} and the session goes on; capacity and factory errors
// are answered and then the connection is closed.
func (s *Server) openenvWS(w http.ResponseWriter, r *http.Request, client string, spec gym.Spec) {
	// Browsers are kept out by authHTTP's Origin check and Accept's own.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the handshake error
	}
	defer c.CloseNow()
	c.SetReadLimit(MaxRequestBytes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	n := s.oeConns.Add(1)
	defer s.oeConns.Add(-1)
	if max := s.cfg.OpenEnvMaxConcurrentEnvs; max > 0 && n > int64(max) {
		s.oeRefuse(ctx, c, &oeError{Code: oeCapacityReached, Msg: "server at capacity: " + itoa(max) + " OpenEnv sessions (max_concurrent_envs); retry later or use another server",
			Extra: map[string]any{"active_sessions": n - 1, "max_sessions": max}})
		return
	}
	sess, err := s.create(ctx, client, spec.ID, nil)
	if err != nil {
		oe := oeFromServe(err)
		if oe.Code != oeCapacityReached {
			oe = &oeError{Code: oeFactoryError, Msg: oe.Msg, Extra: map[string]any{"factory_name": spec.ID}}
		}
		s.oeRefuse(ctx, c, oe)
		return
	}
	defer s.closeSession(sess)

	// Server.Close ends the connection too (drain, shutdown).
	go func() {
		select {
		case <-s.stopReap:
			c.Close(websocket.StatusGoingAway, "server shutting down")
		case <-ctx.Done():
		}
	}()

	// Messages are read and answered in this goroutine: a hand-off to a
	// reader goroutine costs a thread wake-up per message, which measured
	// 3-4x the whole step on a loaded machine. But the library answers
	// pings only inside Read, and OpenEnv clients give up when a ping goes
	// unanswered for 20 s; so when a message takes longer than
	// oeReadAheadAfter, a goroutine starts reading (answering pings) and
	// hands the next message over.
	var ahead <-chan oeFrame
	for {
		var f oeFrame
		if ahead != nil {
			f, ahead = <-ahead, nil
		} else {
			f.typ, f.data, f.err = c.Read(ctx)
		}
		if f.err != nil {
			// The client left, or sent more than MaxRequestBytes in one
			// message, which the library answers by closing with 1009
			// (message too big), as RFC 6455 says.
			return
		}
		s.metrics.oeMessages.Add(1)
		sess.lastUsed.Store(nowNano())
		ch := make(chan oeFrame, 1)
		t := time.AfterFunc(oeReadAheadAfter, func() {
			var next oeFrame
			next.typ, next.data, next.err = c.Read(ctx)
			ch <- next
		})
		reply, closeConn := s.oeHandle(ctx, sess, f.typ, f.data)
		if !t.Stop() {
			ahead = ch // the read-ahead runs: the next message comes from it
		}
		if reply != nil {
			wctx, wcancel := context.WithTimeout(ctx, oeWriteTimeout)
			err := c.Write(wctx, websocket.MessageText, reply)
			wcancel()
			if err != nil {
				return
			}
		}
		if closeConn {
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

// oeFrame is one read message.
type oeFrame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// oeReadAheadAfter is how long a message may take before pings are
// answered from a reader goroutine.
const oeReadAheadAfter = 2 * time.Second

// oeRefuse answers a connection that gets no session, then closes it.
func (s *Server) oeRefuse(ctx context.Context, c *websocket.Conn, e *oeError) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = c.Write(wctx, websocket.MessageText, oeJSON("error", e.data()))
	c.Close(websocket.StatusTryAgainLater, e.Code)
}

// oeHandle answers one message; closeConn ends the connection after the
// reply (a close message, or a session that is gone).
func (s *Server) oeHandle(ctx context.Context, sess *session, typ websocket.MessageType, raw []byte) (reply []byte, closeConn bool) {
	fail := func(e *oeError) ([]byte, bool) {
		return oeJSON("error", e.data()), e.Code == oeSessionError
	}
	if typ != websocket.MessageText {
		return fail(&oeError{Code: oeInvalidJSON, Msg: "binary frames are not accepted: send each message as a JSON text frame"})
	}
	var m oeMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || dec.More() {
		msg := "message is not one JSON object"
		if err != nil {
			msg = "Invalid JSON: " + err.Error()
		}
		return fail(&oeError{Code: oeInvalidJSON, Msg: msg})
	}
	data := map[string]any{}
	if len(m.Data) > 0 && !bytes.Equal(bytes.TrimSpace(m.Data), []byte("null")) {
		if err := json.Unmarshal(m.Data, &data); err != nil {
			return fail(invalid("data", "dict_type", `"data" must be an object`))
		}
	}
	switch m.Type {
	case "reset":
		rs, oe := parseReset(data, false)
		if oe != nil {
			return fail(oe)
		}
		out, err := s.oeResetSession(ctx, sess, &sess.oe, rs)
		if err != nil {
			return fail(oeFromServe(err))
		}
		return oeJSON("observation", out), false
	case "step":
		if len(m.Data) == 0 {
			return fail(invalid("data", "missing", `a step needs "data": {"action": "<action string>"}`))
		}
		act, oe := parseAction(data)
		if oe != nil {
			return fail(oe)
		}
		out, err := s.oeStepSession(ctx, sess, &sess.oe, act)
		if err != nil {
			return fail(oeFromServe(err))
		}
		return oeJSON("observation", out), false
	case "state":
		return oeJSON("state", sess.oe.state(sess)), false
	case "close":
		return nil, true
	case "mcp":
		return oeJSON("mcp", s.oeMCP(ctx, sess, data)), false
	case "":
		return fail(invalid("type", "missing", `every message needs "type": one of reset, step, state, close, mcp`))
	}
	return fail(&oeError{Code: oeUnknownType, Msg: "Unknown message type: " + m.Type + " (want reset, step, state, close or mcp)"})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
