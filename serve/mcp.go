package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/envgym/envgym/gym"
)

// The MCP transport (Model Context Protocol, through the official Go SDK):
// streamable HTTP at /mcp/<family>/<name> (e.g. /mcp/web/shop-v0) and
// stdio (ServeMCP, behind `gym mcp ENV_ID`). One MCP session plays one env
// instance: reset(seed, task) opens it as a session of this server (the
// same limits, idle reaping, drain, metrics and recording as HTTP/JSON and
// the stream), the action tools and step(action) play it, and the env is
// closed when the MCP session ends.

// mcpHost serves MCP for a Server.
type mcpHost struct {
	s       *Server
	handler http.Handler

	mu        sync.Mutex
	servers   map[mcpKey]*mcp.Server // one per env id and client
	envs      map[*mcp.ServerSession]*mcpEnv
	episodes  map[episodeKey]*mcpEnv // envs named by the client (the episode argument)
	perClient map[string]int         // open MCP sessions per client
	specs     map[string]*specEntry
	output    *jsonschema.Schema // of stepOutput, every tool's structured content
}

type mcpKey struct{ envID, client string }

// episodeKey names an env by the client's episode argument, for clients
// that open an MCP session per call (verl's MCP tools do): such an env
// outlives the session and ends with the close tool or idle reaping.
type episodeKey struct{ client, envID, name string }

// mcpEnv is the env of one MCP session.
type mcpEnv struct {
	mu   sync.Mutex // serialises lazy creation and replacement
	sess *session   // nil before the first reset
}

type mcpRouteKey struct{}

// mcpRoute is what the HTTP layer learnt about a request: the env id of
// its path and the client's identity (from authHTTP, never the request).
type mcpRoute struct {
	spec   gym.Spec
	client string
}

func newMCPHost(s *Server) *mcpHost {
	out, err := jsonschema.For[stepOutput](nil)
	if err != nil {
		panic(fmt.Sprintf("serve: the schema of stepOutput: %v", err)) // a bug in the type, found by every test
	}
	h := &mcpHost{s: s, servers: map[mcpKey]*mcp.Server{}, envs: map[*mcp.ServerSession]*mcpEnv{}, episodes: map[episodeKey]*mcpEnv{},
		perClient: map[string]int{}, specs: map[string]*specEntry{}, output: out}
	sdk := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		rt, ok := r.Context().Value(mcpRouteKey{}).(mcpRoute)
		if !ok {
			return nil
		}
		return h.server(rt.spec, rt.client)
	}, &mcp.StreamableHTTPOptions{
		SessionTimeout:      s.cfg.IdleTimeout,
		MaxRequestBodyBytes: MaxRequestBytes,
		// A tool call is answered by one JSON body rather than an SSE
		// stream: the server sends no notifications during a call, and
		// a step costs less.
		JSONResponse: true,
	})
	// The SDK binds a session to the TokenInfo.UserID that opened it, so
	// another client cannot use its session id; the user is the identity
	// authHTTP established before this runs.
	bound := auth.RequireBearerToken(func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		rt, _ := ctx.Value(mcpRouteKey{}).(mcpRoute)
		return &auth.TokenInfo{UserID: rt.client, Expiration: time.Now().Add(time.Hour)}, nil
	}, nil)(sdk)
	h.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.mcpRequests.Add(1)
		client, err := s.authHTTP(r)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status == 401 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="envgym"`)
			}
			writeErr(w, err)
			return
		}
		id := r.PathValue("family") + "/" + r.PathValue("name")
		spec, err := h.spec(id)
		if err != nil {
			writeErr(w, err)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "" && h.sessionsOf(client) >= s.cfg.MaxEnvsPerClient {
			writeErr(w, errorf(429, "", "client already holds %d MCP sessions (the limit); close some first (HTTP DELETE with their Mcp-Session-Id)", s.cfg.MaxEnvsPerClient))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), mcpRouteKey{}, mcpRoute{spec: spec, client: client}))
		if s.hasToken() {
			bound.ServeHTTP(w, r)
			return
		}
		sdk.ServeHTTP(w, r)
	})
	return h
}

// MCPHandler serves MCP's streamable HTTP transport for path
// /mcp/{family}/{name}; Handler mounts it.
func (s *Server) MCPHandler() http.Handler { return s.mcp.handler }

// ServeMCP serves one MCP session of env id over r and w (stdio for
// `gym mcp`) until the client hangs up or ctx ends. client names the
// peer for limits and records.
func (s *Server) ServeMCP(ctx context.Context, envID, client string, r io.ReadCloser, w io.WriteCloser) error {
	spec, err := s.mcp.spec(envID)
	if err != nil {
		return err
	}
	lw := &lockedWriter{w: w}
	in, pw := io.Pipe()
	go filterLines(r, pw, lw)
	return s.mcp.server(spec, client).Run(ctx, &mcp.IOTransport{Reader: in, Writer: lw, MaxLineLength: MaxRequestBytes})
}

// filterLines passes the well-formed lines of r (one JSON-RPC message
// each, as MCP's stdio transport frames them) to the SDK through pw and
// answers the rest itself: the SDK's stream decoder would lose the
// session on a malformed or oversized line, where JSON-RPC answers a
// parse error and goes on.
func filterLines(r io.Reader, pw *io.PipeWriter, out io.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, tooLong, err := readMCPLine(br, MaxRequestBytes)
		switch {
		case tooLong:
			writeRPCError(out, -32700, fmt.Sprintf("Parse error: message over %d bytes", MaxRequestBytes))
		case len(bytes.TrimSpace(line)) == 0:
		case !json.Valid(line):
			writeRPCError(out, -32700, "Parse error: a line is not one JSON value (MCP's stdio transport sends one JSON-RPC message a line)")
		default:
			if _, werr := pw.Write(append(line, '\n')); werr != nil {
				return
			}
		}
		if err != nil {
			pw.CloseWithError(err)
			return
		}
	}
}

// readMCPLine reads one line without its newline, keeping at most limit
// bytes; tooLong reports that more were dropped.
func readMCPLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

func writeRPCError(w io.Writer, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
	_, _ = w.Write(append(b, '\n'))
}

// lockedWriter keeps whole lines whole: the SDK writes each message in
// one Write, and filterLines its errors in one Write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) Close() error { return l.w.Close() }

// specEntry is an env id's full spec, learnt once (a failure is tried
// again on the next request: a plugin may start later).
type specEntry struct {
	mu    sync.Mutex
	known bool
	spec  gym.Spec
}

// spec returns the full spec of env id, which the tools are derived
// from. A registry filled from plugin manifests knows only ids and
// versions, so the first request for an id makes one instance to ask it
// (a plugin start the first reset would pay anyway), then closes it.
func (h *mcpHost) spec(id string) (gym.Spec, error) {
	h.mu.Lock()
	e, ok := h.specs[id]
	if !ok {
		e = &specEntry{}
		h.specs[id] = e
	}
	h.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.known {
		sp, err := h.describe(id)
		if err != nil {
			h.mu.Lock()
			delete(h.specs, id) // unknown ids leave nothing behind
			h.mu.Unlock()
			return sp, err
		}
		e.spec, e.known = sp, true
	}
	return e.spec, nil
}

func (h *mcpHost) describe(id string) (gym.Spec, error) {
	var near []string
	family, _, _ := strings.Cut(id, "/")
	for _, sp := range h.s.maker.Specs() {
		if sp.ID == id {
			if sp.ActionSpace != "" {
				return sp, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.s.cfg.StepTimeout)
			defer cancel()
			env, err := h.s.maker.Make(ctx, id, nil)
			if err != nil {
				return sp, errorf(503, "env_id", "%s cannot start: %v", id, err)
			}
			full := env.Spec()
			_ = env.Close()
			return full, nil
		}
		if strings.HasPrefix(sp.ID, family+"/") {
			near = append(near, sp.ID)
		}
	}
	msg := fmt.Sprintf("unknown env id %q: the MCP endpoint is /mcp/<env id>, e.g. /mcp/web/shop-v0; GET /v1/specs lists the ids", id)
	if len(near) > 0 {
		msg += "; in this family: " + strings.Join(near, ", ")
	}
	return gym.Spec{}, errorf(404, "env_id", "%s", msg)
}

func (h *mcpHost) sessionsOf(client string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perClient[client]
}

// server returns the MCP server of env spec for client, built once.
func (h *mcpHost) server(spec gym.Spec, client string) *mcp.Server {
	key := mcpKey{spec.ID, client}
	h.mu.Lock()
	defer h.mu.Unlock()
	if srv, ok := h.servers[key]; ok {
		return srv
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "envgym", Title: "envgym " + spec.ID, Version: spec.Version},
		&mcp.ServerOptions{
			Instructions: instructions(spec),
			InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
				h.open(req.Session, client)
			},
		})
	h.addTools(srv, spec, client)
	h.servers[key] = srv
	return srv
}

func instructions(spec gym.Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This server plays %s", spec.ID)
	if spec.Description != "" {
		fmt.Fprintf(&b, ": %s", spec.Description)
	}
	b.WriteString("\nEach MCP session is one env instance. Call reset (optionally with seed and task) to start an episode, " +
		"then the action tools (or step with an action string) until a result says terminated or truncated; then reset again.")
	if spec.ObservationSpace != "" {
		fmt.Fprintf(&b, "\nObservations: %s", spec.ObservationSpace)
	}
	return b.String()
}

// open registers an MCP session and closes its env when the session
// ends (client DELETE, EOF on stdio, idle timeout, server close).
func (h *mcpHost) open(ss *mcp.ServerSession, client string) *mcpEnv {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.envs[ss]; ok {
		return e
	}
	e := &mcpEnv{}
	h.envs[ss] = e
	h.perClient[client]++
	h.s.metrics.mcpSessions.Add(1)
	go func() {
		_ = ss.Wait()
		h.mu.Lock()
		delete(h.envs, ss)
		if h.perClient[client]--; h.perClient[client] <= 0 {
			delete(h.perClient, client)
		}
		h.mu.Unlock()
		h.s.metrics.mcpSessions.Add(-1)
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.sess != nil {
			h.s.closeSession(e.sess)
			e.sess = nil
		}
	}()
	return e
}

// live reports whether session id is open, without touching it (a
// sweep must not keep sessions from being reaped).
func (s *Server) live(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[id]
	return ok
}

// closeAll ends every MCP session (the server is closing).
func (h *mcpHost) closeAll() {
	h.mu.Lock()
	all := make([]*mcp.ServerSession, 0, len(h.envs))
	for ss := range h.envs {
		all = append(all, ss)
	}
	h.episodes = map[episodeKey]*mcpEnv{} // their env sessions are the server's to close
	h.mu.Unlock()
	for _, ss := range all {
		_ = ss.Close()
	}
}

// stepOutput is the structured content of every env tool's result.
type stepOutput struct {
	Observation  string         `json:"observation" jsonschema:"the observation text, as in the text content"`
	Reward       float64        `json:"reward" jsonschema:"reward of this step (0 after reset)"`
	Terminated   bool           `json:"terminated" jsonschema:"the episode reached a terminal state of its task"`
	Truncated    bool           `json:"truncated" jsonschema:"the episode was cut short (step limit or infrastructure failure)"`
	Status       string         `json:"status" jsonschema:"OK, INVALID_ACTION (your action was refused), or ENV_ERROR, TIMEOUT, CRASHED (the infrastructure failed; mask from learning)"`
	Action       string         `json:"action,omitempty" jsonschema:"the action string the call was sent as"`
	ValidActions []string       `json:"valid_actions,omitempty" jsonschema:"actions that parse and apply now, where the env can list them"`
	Info         map[string]any `json:"info,omitempty" jsonschema:"env-specific detail (success, reward parts, the error behind an invalid action)"`
	Episode      string         `json:"episode,omitempty" jsonschema:"the episode argument of the call, when given"`
}

func (h *mcpHost) addTools(srv *mcp.Server, spec gym.Spec, client string) {
	resetSchema := &jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
		Properties: map[string]*jsonschema.Schema{
			"seed":    {Type: "integer", Description: "episode seed; the same seed, task and actions replay the same episode (default 0)"},
			"task":    {Type: "string", Description: "task id (default: the env's first task)"},
			"options": {Type: "object", Description: "env-specific reset options, e.g. {\"screenshot\": true} for web envs"},
		}}
	var tasks []string
	for _, t := range spec.Tasks {
		tasks = append(tasks, t.ID+describe(t.Description))
		resetSchema.Properties["task"].Enum = append(resetSchema.Properties["task"].Enum, t.ID)
	}
	resetDoc := fmt.Sprintf("Start a new episode of %s and return its first observation. Closes nothing: the same env instance is reused.", spec.ID)
	if len(tasks) > 0 {
		resetDoc += "\nTasks: " + strings.Join(tasks, "; ")
	}
	h.addTool(srv, &mcp.Tool{Name: "reset", Description: resetDoc}, resetSchema,
		func(ctx context.Context, req *mcp.CallToolRequest, ep string, args map[string]any) (*mcp.CallToolResult, error) {
			opts := gym.ResetOptions{}
			if n, ok := asInt(args["seed"]); ok {
				opts.Seed = n
			}
			opts.TaskID, _ = args["task"].(string)
			opts.Options, _ = args["options"].(map[string]any)
			return h.reset(ctx, req.Session, client, spec.ID, ep, opts)
		})

	stepSchema := &jsonschema.Schema{Type: "object", Required: []string{"action"}, AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
		Properties: map[string]*jsonschema.Schema{"action": {Type: "string", Description: "one action in the env's action grammar"}}}
	stepDoc := fmt.Sprintf("Take one action in %s, written in its action grammar:\n%s\n%s", spec.ID, spec.ActionSpace, resultDoc)
	h.addTool(srv, &mcp.Tool{Name: "step", Description: stepDoc}, stepSchema,
		func(ctx context.Context, req *mcp.CallToolRequest, ep string, args map[string]any) (*mcp.CallToolResult, error) {
			action, _ := args["action"].(string)
			return h.step(ctx, req.Session, client, spec.ID, ep, action)
		})
	h.addTool(srv, &mcp.Tool{Name: "close", Description: fmt.Sprintf("Close the env of %s now (this session's, or the named episode's); the next reset opens a new one. Sessions close theirs when they end.", spec.ID)},
		&jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}}},
		func(ctx context.Context, req *mcp.CallToolRequest, ep string, args map[string]any) (*mcp.CallToolResult, error) {
			return h.closeEnv(req.Session, client, spec.ID, ep)
		})

	for _, t := range deriveActionTools(spec.ActionSpace) {
		if t.name == "reset" || t.name == "step" || t.name == "close" {
			continue // the generic tools keep their meaning
		}
		h.addTool(srv, &mcp.Tool{Name: t.name, Description: t.description(spec.ID)}, t.schema(),
			func(ctx context.Context, req *mcp.CallToolRequest, ep string, args map[string]any) (*mcp.CallToolResult, error) {
				action, err := t.render(args)
				if err != nil {
					return nil, err
				}
				return h.step(ctx, req.Session, client, spec.ID, ep, action)
			})
	}
}

// toolFunc runs a tool on arguments that passed its input schema; ep is
// the episode argument ("" when absent). An error is reported to the
// agent as a tool error (isError) with its text.
type toolFunc func(ctx context.Context, req *mcp.CallToolRequest, ep string, args map[string]any) (*mcp.CallToolResult, error)

// episodeParam is the optional argument of every tool that names an env
// independently of the MCP session.
func episodeParam() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^[A-Za-z0-9._:@-]{1,128}$`,
		Description: "optional: names an env that outlives this MCP session, for clients that open a session per call " +
			"(a trainer's tool wrapper sets it, e.g. to its rollout id; agents leave it out). Ends with close or idle reaping."}
}

// addTool registers a tool whose arguments are checked against schema
// once per call. The SDK's typed AddTool would re-encode arguments and
// results several times more; a step is worth keeping cheap.
func (h *mcpHost) addTool(srv *mcp.Server, t *mcp.Tool, schema *jsonschema.Schema, run toolFunc) {
	if _, taken := schema.Properties["episode"]; !taken {
		if schema.Properties == nil {
			schema.Properties = map[string]*jsonschema.Schema{}
		}
		schema.Properties["episode"] = episodeParam()
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		// Derived from a plugin's grammar: leave the tool out (step
		// still takes every action) rather than fail the server.
		return
	}
	t.InputSchema, t.OutputSchema = schema, h.output
	srv.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args := map[string]any{}
		if raw := req.Params.Arguments; len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &args); err != nil {
				return toolError(fmt.Errorf("arguments of %s must be a JSON object: %v", t.Name, err)), nil
			}
		}
		if err := resolved.Validate(args); err != nil {
			return toolError(fmt.Errorf("arguments of %s: %v (see the tool's inputSchema)", t.Name, err)), nil
		}
		ep, _ := args["episode"].(string)
		delete(args, "episode")
		res, err := run(ctx, req, ep, args)
		if err != nil {
			return toolError(err), nil
		}
		return res, nil
	})
}

func toolError(err error) *mcp.CallToolResult {
	res := &mcp.CallToolResult{}
	res.SetError(err)
	return res
}

func describe(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

// reset starts an episode, opening the session's env on first use (or
// again, after it was reaped or its session closed).
// envOf returns the env a call addresses: the session's, or the named
// episode's (made when create is set).
func (h *mcpHost) envOf(ss *mcp.ServerSession, client, envID, ep string, create bool) *mcpEnv {
	if ep == "" {
		return h.open(ss, client)
	}
	h.open(ss, client) // the session is counted all the same
	key := episodeKey{client, envID, ep}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.episodes[key]
	if !ok && create {
		h.sweepEpisodes()
		e = &mcpEnv{}
		h.episodes[key] = e
	}
	return e
}

// sweepEpisodes forgets named episodes whose env is gone (reaped, or
// never opened); h.mu held. Busy ones are left for the next sweep.
func (h *mcpHost) sweepEpisodes() {
	for k, e := range h.episodes {
		if !e.mu.TryLock() {
			continue
		}
		dead := e.sess == nil || !h.s.live(e.sess.id)
		e.mu.Unlock()
		if dead {
			delete(h.episodes, k)
		}
	}
}

func (h *mcpHost) reset(ctx context.Context, ss *mcp.ServerSession, client, envID, ep string, opts gym.ResetOptions) (*mcp.CallToolResult, error) {
	e := h.envOf(ss, client, envID, ep, true)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess != nil {
		if _, err := h.s.get(client, e.sess.id); err != nil {
			e.sess = nil // reaped after being idle
		}
	}
	if e.sess == nil {
		sess, err := h.s.create(ctx, client, envID, nil)
		if err != nil {
			return nil, err
		}
		e.sess = sess
	}
	obs, err := h.s.reset(ctx, e.sess, opts)
	if err != nil {
		return nil, err
	}
	return result(gym.StepResult{Observation: obs, Status: gym.StatusOK}, "", ep)
}

// step sends one action to the session's env.
func (h *mcpHost) step(ctx context.Context, ss *mcp.ServerSession, client, envID, ep, action string) (*mcp.CallToolResult, error) {
	e := h.envOf(ss, client, envID, ep, false)
	if e == nil {
		return nil, fmt.Errorf("no episode %q: call reset with it first", ep)
	}
	e.mu.Lock()
	sess := e.sess
	e.mu.Unlock()
	if sess == nil {
		return nil, errors.New("no episode yet: call reset first")
	}
	sess.lastUsed.Store(nowNano())
	r, err := h.s.step(ctx, sess, action)
	if err != nil {
		var se *Error
		switch {
		case errors.As(err, &se) && se.Status == 404:
			return nil, fmt.Errorf("the env was closed (idle for %s, or the server is draining): call reset to start again", h.s.cfg.IdleTimeout)
		case errors.As(err, &se) && se.Field == "action":
			return nil, fmt.Errorf("the episode is over: call reset for a new one (%v)", err)
		}
		return nil, err
	}
	return result(r, action, ep)
}

// closeEnv closes the env a call addresses, if it has one.
func (h *mcpHost) closeEnv(ss *mcp.ServerSession, client, envID, ep string) (*mcp.CallToolResult, error) {
	e := h.envOf(ss, client, envID, ep, false)
	if ep != "" {
		h.mu.Lock()
		delete(h.episodes, episodeKey{client, envID, ep})
		h.mu.Unlock()
	}
	closed := false
	if e != nil {
		e.mu.Lock()
		if e.sess != nil {
			h.s.closeSession(e.sess)
			e.sess, closed = nil, true
		}
		e.mu.Unlock()
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("closed: %t", closed)}},
		StructuredContent: &stepOutput{Observation: fmt.Sprintf("closed: %t", closed), Status: gym.StatusOK.String(), Episode: ep}}, nil
}

// result is the tool result of a step: the observation as text (and the
// screenshot as an image), the rest as structured content. A status
// other than OK is a tool error, so agents notice it, with the same
// structured content.
func result(r gym.StepResult, action, ep string) (*mcp.CallToolResult, error) {
	st := r.Status.String()
	text := fmt.Sprintf("%s\n\n[status %s, reward %g, terminated %t, truncated %t]", r.Observation.Text, st, r.Reward, r.Terminated, r.Truncated)
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, IsError: r.Status != gym.StatusOK}
	if len(r.Observation.Screenshot) > 0 {
		res.Content = append(res.Content, &mcp.ImageContent{Data: r.Observation.Screenshot, MIMEType: "image/png"})
	}
	res.StructuredContent = &stepOutput{Observation: r.Observation.Text, Reward: r.Reward, Terminated: r.Terminated, Truncated: r.Truncated,
		Status: st, Action: action, ValidActions: r.Observation.ValidActions, Info: r.Observation.Info, Episode: ep}
	return res, nil
}
