package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/envgym/envgym/envs/search"
	"github.com/envgym/envgym/envs/web"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

// The OpenEnv test clients below are written from OpenEnv's own client and
// server code, not from ours, so they check the wire shapes a real OpenEnv
// client sends and parses:
//
//   - meta-pytorch/OpenEnv src/openenv/core/env_client.py @ 022b51de12aa37e8580d9697b2689812ee0d62ba
//     (EnvClient: base_url + "/ws"; {"type":"reset","data":kwargs},
//     {"type":"step","data":action}, {"type":"state"}, {"type":"close"};
//     a reply of type "error" carries data.message and data.code)
//   - src/openenv/core/env_server/http_server.py @ fd4b6a3dc6988a8310399196f74157722759d750
//     (websocket_endpoint, /reset, /step, /state, /metadata, /health, /schema)
//   - src/openenv/core/env_server/types.py @ 42f4a83fdd2c740d9edfb66aa20d9fe22c32e4d0
//     (WSErrorCode, ResetRequest, StepRequest, State, SchemaResponse)
//   - src/openenv/core/env_server/serialization.py @ 05a0d8c13ed3788298fa13e4640f13fc45720a5e
//     (serialize_observation: {"observation", "reward", "done", "metadata"?})
//   - src/openenv/core/env_server/mcp_types.py @ 3f73e192945f71ff23b75352e0e6b8bef371072c
//     (WSMCPMessage {"type":"mcp","data":<JSON-RPC>})

// oeClient is EnvClient's WebSocket session.
type oeClient struct {
	t  testing.TB
	ws *websocket.Conn
}

// oeServerError is EnvClient._send_and_receive's RuntimeError.
type oeServerError struct {
	Code, Message string
	Data          map[string]any
}

func (e *oeServerError) Error() string { return e.Message + " (code: " + e.Code + ")" }

func dialOE(t testing.TB, baseURL, token string) *oeClient {
	t.Helper()
	c, err := tryDialOE(baseURL, token)
	if err != nil {
		t.Fatal(err)
	}
	return &oeClient{t: t, ws: c}
}

func tryDialOE(baseURL, token string) (*websocket.Conn, error) {
	// convert_to_ws_url, then f"{ws_url}/ws".
	u := "ws" + strings.TrimPrefix(strings.TrimRight(baseURL, "/"), "http") + "/ws"
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", u, err)
	}
	c.SetReadLimit(100 << 20) // max_message_size_mb default
	return c, nil
}

func (c *oeClient) sendRaw(typ websocket.MessageType, b []byte) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		return nil, err
	}
	_, raw, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var resp map[string]any
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("reply is not JSON: %w: %s", err, raw)
	}
	if resp["type"] == "error" {
		d, _ := resp["data"].(map[string]any)
		code, _ := d["code"].(string)
		msg, _ := d["message"].(string)
		return resp, &oeServerError{Code: code, Message: msg, Data: d}
	}
	return resp, nil
}

func (c *oeClient) send(msg map[string]any) (map[string]any, error) {
	b, _ := json.Marshal(msg)
	return c.sendRaw(websocket.MessageText, b)
}

// reset and step return the "data" of the reply, as _parse_result reads it.
func (c *oeClient) reset(kwargs map[string]any) (map[string]any, error) {
	resp, err := c.send(map[string]any{"type": "reset", "data": kwargs})
	if err != nil {
		return nil, err
	}
	return c.data(resp, "observation"), nil
}

func (c *oeClient) step(action map[string]any) (map[string]any, error) {
	resp, err := c.send(map[string]any{"type": "step", "data": action})
	if err != nil {
		return nil, err
	}
	return c.data(resp, "observation"), nil
}

func (c *oeClient) state() map[string]any {
	c.t.Helper()
	resp, err := c.send(map[string]any{"type": "state"})
	if err != nil {
		c.t.Fatal(err)
	}
	return c.data(resp, "state")
}

func (c *oeClient) data(resp map[string]any, typ string) map[string]any {
	c.t.Helper()
	if resp["type"] != typ {
		c.t.Fatalf("reply type %v, want %s: %v", resp["type"], typ, resp)
	}
	d, ok := resp["data"].(map[string]any)
	if !ok {
		c.t.Fatalf("reply without data object: %v", resp)
	}
	return d
}

// close is EnvClient.disconnect: a close message, then the close handshake.
func (c *oeClient) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"close"}`))
	c.ws.Close(websocket.StatusNormalClosure, "")
}

// oeHTTP is an OpenEnv HTTP client of one base URL.
type oeHTTP struct {
	t           testing.TB
	base, token string
	session     string
}

func (h *oeHTTP) do(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (h *oeHTTP) reset(kwargs map[string]any) (map[string]any, error) {
	if h.session != "" {
		kwargs["session_id"] = h.session
	}
	code, out := h.do("POST", "/reset", kwargs)
	if code != 200 {
		return nil, fmt.Errorf("reset: %d %v", code, out)
	}
	md, _ := out["metadata"].(map[string]any)
	h.session, _ = md["session_id"].(string)
	return out, nil
}

func (h *oeHTTP) step(action map[string]any) (map[string]any, error) {
	code, out := h.do("POST", "/step", map[string]any{"action": action, "session_id": h.session})
	if code != 200 {
		return nil, fmt.Errorf("step: %d %v", code, out)
	}
	return out, nil
}

// oeTransport is what an episode needs of either client.
type oeTransport interface {
	reset(kwargs map[string]any) (map[string]any, error)
	step(action map[string]any) (map[string]any, error)
}

// playOracle plays one episode over tr, taking each action from a local
// env of the same id, seed and task (the oracle lives in-process), and
// checks that both see the same rewards. It returns the last step's data.
func playOracle(t *testing.T, tr oeTransport, maker Maker, id string, seed int64, task string) map[string]any {
	t.Helper()
	ctx := context.Background()
	local, err := maker.Make(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	oracle, ok := gym.Capable[gym.Oracle](local)
	if !ok {
		t.Fatalf("%s has no oracle", id)
	}
	if _, err := local.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task}); err != nil {
		t.Fatal(err)
	}
	first, err := tr.reset(map[string]any{"seed": seed, "task": task, "episode_id": "ep-1"})
	if err != nil {
		t.Fatal(err)
	}
	obs := first["observation"].(map[string]any)
	if first["done"] != false || first["reward"] != nil || obs["status"] != "OK" || obs["text"] == "" {
		t.Fatalf("reset data: %v", first)
	}
	for i := 0; i < 200; i++ {
		a, err := oracle.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := local.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.step(map[string]any{"action": a})
		if err != nil {
			t.Fatalf("step %d %q: %v", i, a, err)
		}
		o := got["observation"].(map[string]any)
		if got["reward"] != want.Reward || got["done"] != want.Done() || o["terminated"] != want.Terminated ||
			o["truncated"] != want.Truncated || o["status"] != want.Status.String() || o["text"] != want.Observation.Text {
			t.Fatalf("step %d %q: served %v, local %+v", i, a, got, want)
		}
		if want.Done() {
			return got
		}
	}
	t.Fatal("oracle did not finish in 200 steps")
	return nil
}

// optsMaker makes envs with fixed options per id (a search index in a
// temporary directory, small enough to build in a second).
type optsMaker struct {
	*gym.Registry
	opts map[string]map[string]any
}

func (m optsMaker) Make(ctx context.Context, id string, opts map[string]any) (gym.Env, error) {
	if opts == nil {
		opts = m.opts[id]
	}
	return m.Registry.Make(ctx, id, opts)
}

func searchMaker(t testing.TB) optsMaker {
	t.Helper()
	reg := textRegistry(t)
	if err := search.Register(reg); err != nil {
		t.Fatal(err)
	}
	return optsMaker{reg, map[string]map[string]any{
		search.FictionalID: {"passages": 600, "questions_per_hop": 10, "cache_dir": t.TempDir(), "progress": false},
	}}
}

func startOE(t *testing.T, maker Maker, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(maker, cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

// waitSessions waits for the server to hold n sessions: a closed
// connection's session is closed by the server's goroutine, just after.
func waitOESessions(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Sessions() != n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Sessions(); got != n {
		t.Fatalf("server holds %d sessions, want %d", got, n)
	}
}

func TestOpenEnvTextAndSearchEpisodesOverWSAndHTTP(t *testing.T) {
	maker := searchMaker(t)
	s, ts := startOE(t, maker, Config{Token: "secret"})
	for _, tc := range []struct {
		id, task string
		seed     int64
	}{{"text/maze-v0", "easy", 3}, {search.FictionalID, "2hop", 5}} {
		base := ts.URL + OpenEnvPath(tc.id)
		t.Run(tc.id+"/ws", func(t *testing.T) {
			c := dialOE(t, base, "secret")
			last := playOracle(t, c, maker, tc.id, tc.seed, tc.task)
			if r, _ := last["reward"].(float64); r <= 0 {
				t.Errorf("oracle episode ended with reward %v", last["reward"])
			}
			st := c.state()
			if st["episode_id"] != "ep-1" || st["step_count"].(float64) < 1 || st["done"] != true || st["task_id"] != tc.task {
				t.Errorf("state: %v", st)
			}
			c.close()
			waitOESessions(t, s, 0)
		})
		t.Run(tc.id+"/http", func(t *testing.T) {
			h := &oeHTTP{t: t, base: base, token: "secret"}
			if code, out := h.do("GET", "/health", nil); code != 200 || out["status"] != "healthy" {
				t.Fatalf("health: %d %v", code, out)
			}
			code, md := h.do("GET", "/metadata", nil)
			if code != 200 || md["name"] != tc.id || !strings.Contains(md["readme_content"].(string), tc.task) {
				t.Fatalf("metadata: %d %v", code, md)
			}
			code, sc := h.do("GET", "/schema", nil)
			act, _ := sc["action"].(map[string]any)
			if code != 200 || act["required"].([]any)[0] != "action" || sc["observation"] == nil || sc["state"] == nil {
				t.Fatalf("schema: %d %v", code, sc)
			}
			playOracle(t, h, maker, tc.id, tc.seed, tc.task)
			code, st := h.do("GET", "/state?session_id="+h.session, nil)
			if code != 200 || st["episode_id"] != "ep-1" || st["done"] != true {
				t.Errorf("state: %d %v", code, st)
			}
			// Another client cannot see the session, even with its id.
			other := &oeHTTP{t: t, base: base, token: "wrong"}
			if code, _ := other.do("GET", "/state?session_id="+h.session, nil); code != 401 {
				t.Errorf("state with a wrong token: %d, want 401", code)
			}
			if code, out := h.do("POST", "/close", map[string]any{"session_id": h.session}); code != 200 {
				t.Errorf("close: %d %v", code, out)
			}
			waitOESessions(t, s, 0)
		})
	}
}

// TestOpenEnvWebShopEpisode plays the web shop (real Chromium) to its
// reward over both transports, with screenshots asked for over /ws.
func TestOpenEnvWebShopEpisode(t *testing.T) {
	reg := gym.NewRegistry()
	if err := web.Register(reg); err != nil {
		t.Fatalf("web env (setup installs Chromium): %v", err)
	}
	s, ts := startOE(t, reg, Config{})
	base := ts.URL + OpenEnvPath("web/shop-v0")
	c := dialOE(t, base, "")
	last := playOracle(t, c, reg, "web/shop-v0", 2, "")
	if last["reward"] != 1.0 || last["observation"].(map[string]any)["terminated"] != true {
		t.Errorf("shop episode: %v", last)
	}
	first, err := c.reset(map[string]any{"seed": 2, "screenshot": true})
	if err != nil {
		t.Fatal(err)
	}
	shot, _ := first["observation"].(map[string]any)["screenshot"].(string)
	if !strings.HasPrefix(shot, "iVBORw0KGgo") { // base64 of the PNG signature
		t.Errorf("screenshot asked for: got %q…", shot[:min(len(shot), 16)])
	}
	// A malformed action is the agent's fault: an observation that says
	// why, not a protocol error, and the episode goes on.
	bad, err := c.step(map[string]any{"action": "click("})
	if err != nil {
		t.Fatal(err)
	}
	if o := bad["observation"].(map[string]any); o["status"] != "INVALID_ACTION" || o["infra"] != false || bad["done"] != false {
		t.Errorf("invalid action: %v", bad)
	}
	c.close()
	h := &oeHTTP{t: t, base: base}
	playOracle(t, h, reg, "web/shop-v0", 4, "")
	h.do("POST", "/close", map[string]any{"session_id": h.session})
	waitOESessions(t, s, 0)
}

func TestOpenEnvBadInputIsAnsweredAndLeaksNothing(t *testing.T) {
	s, ts := startOE(t, textRegistry(t), Config{OpenEnvMaxConcurrentEnvs: 2})
	base := ts.URL + OpenEnvPath("text/maze-v0")
	c := dialOE(t, base, "")
	waitOESessions(t, s, 1)

	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		code string
		loc  string
	}{
		{"malformed JSON", websocket.MessageText, `{"type": "reset", `, oeInvalidJSON, ""},
		{"not an object", websocket.MessageText, `[1, 2]`, oeInvalidJSON, ""},
		{"binary frame", websocket.MessageBinary, `{"type":"state"}`, oeInvalidJSON, ""},
		{"unknown type", websocket.MessageText, `{"type":"teleport"}`, oeUnknownType, ""},
		{"no type", websocket.MessageText, `{"data":{}}`, oeValidationError, "type"},
		{"step before reset", websocket.MessageText, `{"type":"step","data":{"action":"north"}}`, oeExecutionError, ""},
		{"unknown task", websocket.MessageText, `{"type":"reset","data":{"task":"nightmare"}}`, oeValidationError, "task"},
		{"seed of the wrong type", websocket.MessageText, `{"type":"reset","data":{"seed":"one"}}`, oeValidationError, "seed"},
		{"negative seed", websocket.MessageText, `{"type":"reset","data":{"seed":-1}}`, oeValidationError, "seed"},
		{"unknown reset field", websocket.MessageText, `{"type":"reset","data":{"difficulty":"easy"}}`, oeValidationError, "difficulty"},
		{"action of the wrong type", websocket.MessageText, `{"type":"step","data":{"action":42}}`, oeValidationError, "action"},
		{"action missing", websocket.MessageText, `{"type":"step","data":{}}`, oeValidationError, "action"},
		{"extra action field", websocket.MessageText, `{"type":"step","data":{"action":"n","force":true}}`, oeValidationError, "force"},
		{"data not an object", websocket.MessageText, `{"type":"step","data":"north"}`, oeValidationError, "data"},
	} {
		_, err := c.sendRaw(tc.typ, []byte(tc.msg))
		var se *oeServerError
		if !errors.As(err, &se) || se.Code != tc.code || se.Message == "" {
			t.Errorf("%s: got %v, want code %s", tc.name, err, tc.code)
			continue
		}
		if tc.loc != "" {
			issues, _ := se.Data["errors"].([]any)
			if len(issues) == 0 || fmt.Sprint(issues[0].(map[string]any)["loc"]) != "["+tc.loc+"]" {
				t.Errorf("%s: errors %v, want loc [%s]", tc.name, se.Data["errors"], tc.loc)
			}
		}
	}
	// The session survived all of that.
	if _, err := c.reset(map[string]any{"seed": 1, "task": "easy"}); err != nil {
		t.Fatalf("reset after bad input: %v", err)
	}
	if r, err := c.step(map[string]any{"action": "fly away"}); err != nil || r["observation"].(map[string]any)["status"] != "INVALID_ACTION" {
		t.Errorf("invalid action: %v %v", r, err)
	}
	waitOESessions(t, s, 1)

	// JSON-RPC through {"type":"mcp"}: errors are JSON-RPC errors.
	for _, tc := range []struct {
		req  string
		code float64
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, -32601},
		{`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"teleport","arguments":{}}}`, -32602},
		{`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"act","arguments":{"action":7}}}`, -32602},
	} {
		resp, err := c.send(map[string]any{"type": "mcp", "data": json.RawMessage(tc.req)})
		d, _ := resp["data"].(map[string]any)
		e, _ := d["error"].(map[string]any)
		if err != nil || resp["type"] != "mcp" || e["code"] != tc.code {
			t.Errorf("mcp %s: %v %v, want error %v", tc.req, resp, err, tc.code)
		}
	}
	resp, err := c.send(map[string]any{"type": "mcp", "data": map[string]any{"jsonrpc": "2.0", "id": 4, "method": "tools/call",
		"params": map[string]any{"name": "act", "arguments": map[string]any{"action": "look"}}}})
	res, _ := c.data(resp, "mcp")["result"].(map[string]any)
	if err != nil || res["isError"] != false || res["structuredContent"] == nil {
		t.Errorf("mcp act: %v %v", resp, err)
	}

	// Capacity: two sessions at most; the third is told and closed.
	c2 := dialOE(t, base, "")
	waitOESessions(t, s, 2)
	ws3, err := tryDialOE(base, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, raw, err := ws3.Read(ctx)
	if err != nil || !strings.Contains(string(raw), oeCapacityReached) {
		t.Errorf("third session: %s %v, want CAPACITY_REACHED", raw, err)
	}
	if _, _, err := ws3.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Errorf("third session closed with %v, want 1013", err)
	}
	c2.close()
	waitOESessions(t, s, 1)

	// An oversized message: RFC 6455's 1009 close, the session released.
	big := append([]byte(`{"type":"step","data":{"action":"`), bytes.Repeat([]byte("n"), MaxRequestBytes+1)...)
	big = append(big, `"}}`...)
	if _, err := c.sendRaw(websocket.MessageText, big); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("oversized message: %v, want close 1009", err)
	}
	waitOESessions(t, s, 0)

	// HTTP: the same errors in FastAPI's shape, and no session left open.
	h := &oeHTTP{t: t, base: base}
	for _, tc := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"/reset", map[string]any{"task": "nightmare"}, 422, oeValidationError},
		{"/reset", map[string]any{"seed": "x"}, 422, oeValidationError},
		{"/step", map[string]any{"action": map[string]any{"action": "n"}}, 422, oeValidationError},
		{"/step", map[string]any{"action": "n", "session_id": "x"}, 422, oeValidationError},
		{"/step", map[string]any{"action": map[string]any{"action": "n"}, "session_id": "nope"}, 404, oeSessionError},
	} {
		code, out := h.do("POST", tc.path, tc.body)
		if code != tc.status || out["code"] != tc.code {
			t.Errorf("POST %s %v: %d %v, want %d %s", tc.path, tc.body, code, out, tc.status, tc.code)
		}
	}
	if code, out := (&oeHTTP{t: t, base: ts.URL + "/openenv/nope.x-v0"}).do("GET", "/health", nil); code != 404 {
		t.Errorf("unknown env: %d %v", code, out)
	}
	waitOESessions(t, s, 0)
}

// TestOpenEnvSessionsShareServerLifecycle: an OpenEnv session is a session
// of the server like any other, so Close (the end of a drain) ends it.
func TestOpenEnvSessionsShareServerLifecycle(t *testing.T) {
	s, ts := startOE(t, textRegistry(t), Config{})
	c := dialOE(t, ts.URL+OpenEnvPath("text/maze-v0"), "")
	if _, err := c.reset(map[string]any{"seed": 1}); err != nil {
		t.Fatal(err)
	}
	if len(s.list(addrIdentity("127.0.0.1:1"))) != 1 {
		t.Errorf("the OpenEnv session is not listed as the client's: %v", s.list(addrIdentity("127.0.0.1:1")))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("after Close: %v, want close 1001", err)
	}
	wg.Wait()
	waitOESessions(t, s, 0)
}

func TestOpenEnvEnvPassesConformance(t *testing.T) {
	_, ts := startOE(t, textRegistry(t), Config{Token: "tok"})
	rep := envtest.Run(context.Background(), func(ctx context.Context) (gym.Env, error) {
		return NewOpenEnvEnv(ctx, ts.URL, "tok", "text/maze-v0")
	}, envtest.Config{Seeds: 2})
	if !rep.OK() {
		t.Fatalf("OpenEnv client env failed conformance: %+v", rep)
	}
}

// BenchmarkStepTransports times one step of the text env through the
// stream and through OpenEnv's WebSocket (gym bench serve reports the
// same ratio through a plugin).
func BenchmarkStepTransports(b *testing.B) {
	ctx := context.Background()
	s := New(textRegistry(b), Config{MaxEnvsPerClient: 1000})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	addr, _, stop := startStreamB(b, s)
	defer stop()
	for _, tc := range []struct {
		name string
		make func() (gym.Env, error)
	}{
		{"stream", func() (gym.Env, error) { return NewPool([]string{addr}, PoolOptions{}).Make(ctx, "text/maze-v0", nil) }},
		{"openenv_ws", func() (gym.Env, error) { return NewOpenEnvEnv(ctx, ts.URL, "", "text/maze-v0") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			env, err := tc.make()
			if err != nil {
				b.Fatal(err)
			}
			defer env.Close()
			if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				r, err := env.Step(ctx, "look")
				if err != nil {
					b.Fatal(err)
				}
				if r.Done() { // the task's step limit
					b.StopTimer()
					if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

func startStreamB(b *testing.B, s *Server) (string, *Server, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.ServeStream(ln)
	return ln.Addr().String(), s, func() { ln.Close() }
}

// oeSlowEnv takes 3 s over the action "slow": a step longer than
// oeReadAheadAfter, during which the client's pings must be answered.
type oeSlowEnv struct{ gym.Env }

func (e oeSlowEnv) Step(ctx context.Context, a string) (gym.StepResult, error) {
	if a == "slow" {
		time.Sleep(oeReadAheadAfter + time.Second)
	}
	return e.Env.Step(ctx, a)
}

type oeSlowMaker struct{ *gym.Registry }

func (m oeSlowMaker) Make(ctx context.Context, id string, opts map[string]any) (gym.Env, error) {
	e, err := m.Registry.Make(ctx, id, opts)
	return oeSlowEnv{e}, err
}

func TestOpenEnvPingsAnsweredDuringLongSteps(t *testing.T) {
	_, ts := startOE(t, oeSlowMaker{textRegistry(t)}, Config{})
	c := dialOE(t, ts.URL+OpenEnvPath("text/maze-v0"), "")
	defer c.close()
	if _, err := c.reset(map[string]any{"seed": 1}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.step(map[string]any{"action": "slow"})
		done <- err
	}()
	time.Sleep(oeReadAheadAfter + 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		t.Errorf("ping during a long step: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("slow step: %v", err)
	}
	// The message after the long one arrives through the read-ahead.
	if r, err := c.step(map[string]any{"action": "look"}); err != nil || r["observation"].(map[string]any)["status"] != "OK" {
		t.Errorf("step after the long one: %v %v", r, err)
	}
}

// TestOpenEnvRootMount: with OpenEnvRoot the server's own URL is the env's
// base URL, as verifiers' OpenEnvEnv and one-env OpenEnv servers assume.
func TestOpenEnvRootMount(t *testing.T) {
	reg := textRegistry(t)
	s, ts := startOE(t, reg, Config{OpenEnvRoot: "text/maze-v0"})
	h := &oeHTTP{t: t, base: ts.URL}
	if code, out := h.do("GET", "/health", nil); code != 200 || out["status"] != "healthy" {
		t.Fatalf("root /health: %d %v", code, out)
	}
	if code, out := h.do("GET", "/metadata", nil); code != 200 || out["name"] != "text/maze-v0" {
		t.Fatalf("root /metadata: %d %v", code, out)
	}
	c := dialOE(t, ts.URL, "")
	playOracle(t, c, reg, "text/maze-v0", 2, "easy")
	c.close()
	// The per-env base URLs still work beside it.
	if code, _ := (&oeHTTP{t: t, base: ts.URL + OpenEnvPath("text/maze-v0")}).do("GET", "/health", nil); code != 200 {
		t.Errorf("per-env /health beside the root: %d", code)
	}
	waitOESessions(t, s, 0)
	// The messages are counted in the server's metrics, as a transport.
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(m), `envgym_requests_total{transport="openenv_ws"} `) || strings.Contains(string(m), `envgym_requests_total{transport="openenv_ws"} 0`) {
		t.Errorf("metrics lack the OpenEnv messages:\n%s", m)
	}
}

// FuzzOpenEnvMessages feeds arbitrary WebSocket text messages to one
// session: every reply is one OpenEnv message of a known type, nothing
// panics, and the session is neither lost nor duplicated.
func FuzzOpenEnvMessages(f *testing.F) {
	for _, seed := range []string{
		`{"type":"reset","data":{"seed":1,"task":"easy"}}`,
		`{"type":"step","data":{"action":"north"}}`,
		`{"type":"state"}`,
		`{"type":"mcp","data":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}`,
		`{"type":"mcp","data":{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"act","arguments":{"action":"look"}}}}`,
		`{"type":"reset","data":{"seed":-1,"options":[]}}`,
		`{"type":"step","data":null}`,
		`{"type":7}`, `[]`, `{`, ``,
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	s := New(textRegistry(f), Config{})
	defer s.Close()
	sess, err := s.create(ctx, "fuzz", "text/maze-v0", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		if strings.Contains(msg, `"close"`) {
			return // a close ends the connection, by design
		}
		reply, _ := s.oeHandle(ctx, sess, websocket.MessageText, []byte(msg))
		var out struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(reply, &out); err != nil {
			t.Fatalf("reply to %q is not JSON: %v: %s", msg, err, reply)
		}
		switch out.Type {
		case "observation", "state", "error", "mcp":
		default:
			t.Fatalf("reply to %q has type %q", msg, out.Type)
		}
		if n := s.Sessions(); n != 1 {
			t.Fatalf("after %q the server holds %d sessions", msg, n)
		}
	})
}
