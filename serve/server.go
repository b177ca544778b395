// Package serve exposes envs over the network, so trainers in any language
// and on other machines can use them: HTTP/JSON for simple clients and a
// line-delimited JSON stream over TCP for fast loops. Behind it sits any
// Maker, usually a registry filled by the plugin host, so served envs keep
// the host's isolation.
package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// Maker builds envs by id; *gym.Registry is one.
type Maker interface {
	Make(ctx context.Context, id string, opts map[string]any) (gym.Env, error)
	Specs() []gym.Spec
}

// Config tunes a Server. The zero value is usable on loopback.
type Config struct {
	// Token, when set, must be presented as "Authorization: Bearer TOKEN"
	// (HTTP) or in the first "auth" message (stream). Without a token the
	// server refuses to listen on anything but loopback (CheckListen).
	Token string
	// Tokens are named tokens (token → client name, see ParseTokenFile):
	// each client's identity is its name. Without them a client is its
	// IP address. Never what the client says it is.
	Tokens           map[string]string
	MaxEnvsPerClient int           // default 64
	IdleTimeout      time.Duration // sessions unused this long are closed; default 10m
	StepTimeout      time.Duration // per reset/step; default 60s
	MaxConns         int           // open connections in all; default 1024
	MaxConnsPerAddr  int           // open connections from one IP address; default 256
	// AuthTimeout bounds how long a new stream connection may take to send
	// its first request (its auth, on a server with a token); default 10s.
	AuthTimeout time.Duration
	// BodyTimeout bounds how long an HTTP request body may take to arrive;
	// default 30s.
	BodyTimeout time.Duration
	// AllowPaths are the directories under which env options may name host
	// paths; none by default (options.go).
	AllowPaths []string
	// Record, when set, receives every served episode (steps and
	// manifest) of every transport.
	Record *trajectory.Writer
	// OpenEnvMaxConcurrentEnvs caps the OpenEnv WebSocket sessions of the
	// whole server (OpenEnv's max_concurrent_envs); one more is refused
	// with CAPACITY_REACHED. 0: only MaxEnvsPerClient applies.
	OpenEnvMaxConcurrentEnvs int
	// OpenEnvRoot, an env id, is also served at the root (/ws, /reset, …)
	// for OpenEnv clients that take the server's URL as the env's.
	OpenEnvRoot string
	// Retriever, when set, answers Search-R1's POST /retrieve (retrieve.go).
	Retriever Retriever
	// Oracle lets stream clients ask for the env's scripted next action
	// (the "oracle" op, envs that implement gym.Oracle): oracle baselines
	// and infrastructure tests through the pool. Off by default: it hands
	// the client the answer.
	Oracle bool
}

func (c Config) withDefaults() Config {
	if c.MaxEnvsPerClient <= 0 {
		c.MaxEnvsPerClient = 64
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 60 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1024
	}
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = 256
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 30 * time.Second
	}
	return c
}

// Server holds the sessions of all clients.
type Server struct {
	maker   Maker
	cfg     Config
	metrics *metrics

	mu        sync.Mutex
	sessions  map[string]*session
	perClient map[string]int
	draining  atomic.Bool
	drainEnd  atomic.Int64 // unix nanos after which open episodes are cut
	stopReap  chan struct{}
	reapDone  chan struct{}
	conns     map[net.Conn]struct{} // open stream connections, closed by Close
	limiter   *connLimiter
	oeConns   atomic.Int64 // open OpenEnv WebSocket sessions (openenv_ws.go)
	mcp       *mcpHost     // MCP sessions (mcp.go)
}

// session is one env instance owned by one client.
type session struct {
	id, client string
	env        gym.Env
	spec       gym.Spec
	mu         sync.Mutex // one call at a time, as gym.Env requires
	lastUsed   atomic.Int64
	inEpisode  bool
	closed     bool
	oe         oeEpisode // OpenEnv's episode id and step count (openenv.go)
}

// New returns a server over maker and starts its idle-session reaper.
func New(maker Maker, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		maker: maker, cfg: cfg, metrics: newMetrics(), limiter: newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerAddr),
		sessions: map[string]*session{}, perClient: map[string]int{},
		stopReap: make(chan struct{}), reapDone: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	s.mcp = newMCPHost(s)
	go s.reapLoop()
	return s
}

// CheckListen refuses a non-loopback address when no token is set: an
// env server is remote code execution for whoever can reach it.
func CheckListen(addr, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q without a token: set a token (file or GYM_SERVE_TOKEN) or listen on 127.0.0.1", addr)
}

// Error is a request failure: an HTTP status, a message, and the request
// field at fault when there is one.
type Error struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	Field  string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (field %q)", e.Msg, e.Field)
	}
	return e.Msg
}

func errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// create opens a new session for client (an identity from authenticate
// or authHTTP), honouring the drain, the per-client limit and the host
// path allowlist. Every transport opens sessions through it.
func (s *Server) create(ctx context.Context, client, envID string, opts map[string]any) (*session, error) {
	if envID == "" {
		return nil, errorf(400, "env_id", "env_id is required")
	}
	if err := s.checkOptions("options", opts); err != nil {
		return nil, err
	}
	if s.draining.Load() {
		return nil, errorf(503, "", "server is draining; create envs elsewhere")
	}
	s.mu.Lock()
	if s.perClient[client] >= s.cfg.MaxEnvsPerClient {
		s.mu.Unlock()
		return nil, errorf(429, "", "client already holds %d envs (the limit); close some first", s.cfg.MaxEnvsPerClient)
	}
	s.perClient[client]++ // reserve before the slow Make
	s.mu.Unlock()
	env, err := s.maker.Make(ctx, envID, opts)
	if err != nil {
		s.mu.Lock()
		s.perClient[client]--
		s.mu.Unlock()
		if errors.Is(err, gym.ErrUnknownEnvID) {
			// The registry is read when the server starts.
			return nil, errorf(404, "env_id", "%v (a plugin installed after this server started is served once the server restarts)", err)
		}
		return nil, errorf(400, "options", "make %s: %v", envID, err)
	}
	// As Gymnasium's make does: the env's declared step limit always holds
	// for served envs, so a remote episode cannot run forever.
	env = gym.WithTimeLimit(env, 0)
	if s.cfg.Record != nil {
		env = trajectory.Record(env, s.cfg.Record, "served:"+client)
	}
	sess := &session{id: newID(), client: client, env: env, spec: env.Spec()}
	sess.lastUsed.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.metrics.sessions.Add(1)
	return sess, nil
}

// get returns session id if client owns it; another client's session is
// reported as absent, exactly like one that never existed.
func (s *Server) get(client, id string) (*session, error) {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	s.mu.Unlock()
	if !ok || sess.client != client {
		return nil, errorf(404, "session_id", "no session %q (closed, reaped after %s idle, or never created)", id, s.cfg.IdleTimeout)
	}
	sess.lastUsed.Store(time.Now().UnixNano())
	return sess, nil
}

// oracle returns the env's scripted next action (Config.Oracle).
func (s *Server) oracle(ctx context.Context, sess *session) (string, error) {
	if !s.cfg.Oracle {
		return "", errorf(403, "op", "this server hands out no oracle actions (start it with gym serve --oracle)")
	}
	o, ok := gym.Capable[gym.Oracle](sess.env)
	if !ok {
		return "", errorf(404, "op", "env %s has no oracle", sess.spec.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StepTimeout)
	defer cancel()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return "", errorf(404, "session_id", "session closed")
	}
	a, err := o.OracleAction(ctx)
	if err != nil {
		return "", errorf(409, "", "oracle: %v", err)
	}
	return a, nil
}

func (s *Server) reset(ctx context.Context, sess *session, opts gym.ResetOptions) (gym.Observation, error) {
	if s.draining.Load() {
		return gym.Observation{}, errorf(503, "", "server is draining: no new episodes")
	}
	if err := s.checkOptions("options", opts.Options); err != nil {
		return gym.Observation{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StepTimeout)
	defer cancel()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return gym.Observation{}, errorf(404, "session_id", "session closed")
	}
	obs, err := sess.env.Reset(ctx, opts)
	if err != nil {
		if errors.Is(err, gym.ErrUnknownTask) {
			return obs, errorf(400, "task_id", "%v", err)
		}
		return obs, errorf(500, "", "reset: %v", err)
	}
	sess.inEpisode = true
	return obs, nil
}

func (s *Server) step(ctx context.Context, sess *session, action string) (gym.StepResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StepTimeout)
	defer cancel()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return gym.StepResult{}, errorf(404, "session_id", "session closed")
	}
	if end := s.drainEnd.Load(); end != 0 && time.Now().UnixNano() > end && sess.inEpisode {
		// The drain grace is over: cut the episode, visibly, as an
		// infrastructure truncation rather than the agent's failure.
		sess.inEpisode = false
		return gym.StepResult{Truncated: true, Status: gym.StatusEnvError,
			Observation: gym.Observation{Text: "The server is shutting down; the episode was cut.", Info: map[string]any{"error": "server draining"}}}, nil
	}
	start := time.Now()
	r, err := sess.env.Step(ctx, action)
	if err != nil {
		field := ""
		if errors.Is(err, gym.ErrEpisodeDone) || errors.Is(err, gym.ErrNotReset) {
			field = "action"
		}
		return r, errorf(409, field, "step: %v", err)
	}
	s.metrics.observeStep(r.Status, time.Since(start))
	if r.Done() {
		sess.inEpisode = false
	}
	return r, nil
}

// closeSession closes and forgets a session.
func (s *Server) closeSession(sess *session) {
	s.mu.Lock()
	if _, ok := s.sessions[sess.id]; ok {
		delete(s.sessions, sess.id)
		s.perClient[sess.client]--
		if s.perClient[sess.client] <= 0 {
			delete(s.perClient, sess.client)
		}
		s.metrics.sessions.Add(-1)
	}
	s.mu.Unlock()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if !sess.closed {
		sess.closed = true
		_ = sess.env.Close()
	}
}

// SessionInfo describes a live session.
type SessionInfo struct {
	ID        string    `json:"session_id"`
	EnvID     string    `json:"env_id"`
	InEpisode bool      `json:"in_episode"`
	LastUsed  time.Time `json:"last_used"`
}

func (s *Server) list(client string) []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []SessionInfo{}
	for _, sess := range s.sessions {
		if sess.client == client {
			out = append(out, SessionInfo{ID: sess.id, EnvID: sess.spec.ID, InEpisode: sess.inEpisode, LastUsed: time.Unix(0, sess.lastUsed.Load())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Sessions counts live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) reapLoop() {
	defer close(s.reapDone)
	t := time.NewTicker(min(s.cfg.IdleTimeout/4, 10*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stopReap:
			return
		case now := <-t.C:
			s.mu.Lock()
			var idle []*session
			for _, sess := range s.sessions {
				if now.Sub(time.Unix(0, sess.lastUsed.Load())) > s.cfg.IdleTimeout {
					idle = append(idle, sess)
				}
			}
			s.mu.Unlock()
			for _, sess := range idle {
				s.closeSession(sess)
				s.metrics.reaped.Add(1)
			}
		}
	}
}

// Drain stops new sessions and episodes, lets running episodes finish for
// up to grace, then cuts the rest (their next step is reported truncated)
// and closes every session. It returns when all are closed or ctx ends.
func (s *Server) Drain(ctx context.Context, grace time.Duration) {
	s.draining.Store(true)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && s.episodesRunning() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	s.drainEnd.Store(time.Now().UnixNano())
	// Give clients a moment to receive their truncation.
	for i := 0; i < 25 && s.episodesRunning() > 0 && ctx.Err() == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	s.Close()
}

func (s *Server) episodesRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if sess.inEpisode {
			n++
		}
	}
	return n
}

// Close closes every session and stops the reaper.
func (s *Server) Close() {
	select {
	case <-s.stopReap:
	default:
		close(s.stopReap)
		<-s.reapDone
	}
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.mcp.closeAll()
	for _, sess := range all {
		s.closeSession(sess)
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
