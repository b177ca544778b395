package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/envgym/envgym/gym"
)

// Make creates env id on some live replica.
func (p *Pool) Make(ctx context.Context, id string, opts map[string]any) (*RemoteEnv, error) {
	e := &RemoteEnv{pool: p, id: id, opts: opts}
	if err := e.connect(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// RemoteEnv is a gym.Env served by `gym serve`.
type RemoteEnv struct {
	pool *Pool
	id   string
	opts map[string]any
	c    *streamConn
	spec gym.Spec
	done bool
	live bool // a Reset succeeded on the current connection
	// failed is a connection failure met outside Step (the oracle op),
	// reported by the next Step.
	failed error
}

type streamConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	enc  *json.Encoder
	// probeAfter: see PoolOptions.ProbeAfter (0: never probe).
	probeAfter time.Duration
}

// errStalled: the replica accepted the call but stopped answering, even
// a health probe on a new connection.
var errStalled = errors.New("the server stopped answering")

// errServer marks a failure of the connection (the server), as opposed to
// an error the server reported.
type errServer struct{ err error }

func (e *errServer) Error() string { return e.err.Error() }
func (e *errServer) Unwrap() error { return e.err }

// connect makes the env on a replica. Once the pool has made an env, a
// moment with no replica reachable (the only one restarting, all being
// replaced) is waited out for PoolOptions.Patience, resolving again.
func (e *RemoteEnv) connect(ctx context.Context) error {
	deadline := time.Now().Add(e.pool.patience)
	for {
		err := e.tryConnect(ctx)
		if err == nil || !errors.Is(err, ErrNoReplica) || !e.pool.madeOnce() || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(e.pool.retryEvery):
		}
		e.pool.forceResolve()
	}
}

func (e *RemoteEnv) tryConnect(ctx context.Context) error {
	e.pool.refresh(ctx)
	addrs, err := e.pool.pick()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range addrs {
		sc, spec, err := e.dialMake(ctx, addr)
		if err == nil {
			e.c, e.spec = sc, spec
			e.pool.attach(addr)
			return nil
		}
		var se *errServer
		if !errors.As(err, &se) {
			return err // the server answered: a bad id or options won't work elsewhere either
		}
		e.pool.connectFailed(addr)
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: no server could make %s: %w", ErrNoReplica, e.id, errors.Join(errs...))
}

func (e *RemoteEnv) dialMake(ctx context.Context, addr string) (*streamConn, gym.Spec, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, gym.Spec{}, &errServer{err}
	}
	sc := &streamConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10), probeAfter: e.pool.probeAfter}
	sc.enc = json.NewEncoder(sc.w)
	if e.pool.token != "" {
		if _, err := sc.call(ctx, e.pool.stepTimeout, streamRequest{Op: "auth", Token: e.pool.token}); err != nil {
			c.Close()
			return nil, gym.Spec{}, err
		}
	}
	resp, err := sc.call(ctx, e.pool.stepTimeout, streamRequest{Op: "make", EnvID: e.id, Options: e.opts})
	if err != nil {
		c.Close()
		return nil, gym.Spec{}, err
	}
	spec := gym.Spec{ID: e.id}
	if resp.Spec != nil {
		spec = *resp.Spec
	}
	return sc, spec, nil
}

// call sends one request line and reads one response line.
func (sc *streamConn) call(ctx context.Context, timeout time.Duration, req streamRequest) (streamResponse, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(timeout)
	}
	_ = sc.c.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { sc.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	var resp streamResponse
	if err := sc.enc.Encode(req); err != nil {
		return resp, &errServer{err}
	}
	if err := sc.w.Flush(); err != nil {
		return resp, &errServer{err}
	}
	var stalled atomic.Pointer[error]
	if sc.probeAfter > 0 {
		// The watcher is gone before the next call sets its deadline.
		wctx, answered := context.WithCancel(ctx)
		watching := make(chan struct{})
		go func() { defer close(watching); sc.watch(wctx, &stalled) }()
		defer func() { answered(); <-watching }()
	}
	line, err := sc.r.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		if why := stalled.Load(); why != nil {
			return resp, &errServer{*why}
		}
		return resp, &errServer{err}
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		if bytes.HasPrefix(line, []byte("HTTP/")) {
			return resp, &errServer{fmt.Errorf("%s answered HTTP, not gym serve's stream protocol: give the --stream address (8081 by default), not --http", sc.addr)}
		}
		return resp, &errServer{fmt.Errorf("%s: not a gym serve stream response (%.40q): %w", sc.addr, line, err)}
	}
	if resp.Error != "" {
		return resp, &Error{Status: resp.Code, Msg: resp.Error, Field: resp.Field}
	}
	return resp, nil
}

// watch probes the replica while a call waits longer than probeAfter;
// when a probe goes unanswered it records why and cuts the call short.
// It returns when ctx ends (the call was answered).
func (sc *streamConn) watch(ctx context.Context, stalled *atomic.Pointer[error]) {
	start := time.Now()
	t := time.NewTimer(sc.probeAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := probe(ctx, sc.addr, sc.probeAfter)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			why := fmt.Errorf("%w: the call waited %v, then a health probe on a new connection got no answer within %v (%v): a frozen replica (a paused container, a stopped process) or a partition", errStalled, time.Since(start).Round(time.Millisecond), sc.probeAfter, err)
			stalled.Store(&why)
			_ = sc.c.SetDeadline(time.Unix(1, 0))
			return
		}
		t.Reset(sc.probeAfter)
	}
}

// probe asks the stream server at addr for a ping; any answer line (an
// older server's "unknown op" included) means it is alive.
func probe(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write([]byte("{\"op\":\"ping\"}\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadSlice('\n')
	return err
}

func (e *RemoteEnv) drop() {
	if e.c != nil {
		e.c.c.Close()
		e.pool.detach(e.c.addr)
		e.c = nil
	}
	e.live, e.failed = false, nil
}

// Reset implements gym.Env; after a server died it first makes the env
// again on another server, and it moves the env when the pool is
// unbalanced (see Pool).
func (e *RemoteEnv) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	e.pool.refresh(ctx)
	if e.c != nil && e.pool.shouldMove(e.c.addr) {
		e.closeRemote()
	}
	tries := len(e.pool.Replicas(ctx)) + 2
	var lastErr error
	for attempt := 0; attempt < tries; attempt++ {
		if e.c == nil {
			if err := e.connect(ctx); err != nil {
				return gym.Observation{}, err
			}
		}
		resp, err := e.c.call(ctx, e.pool.stepTimeout, streamRequest{Op: "reset", Seed: opts.Seed, TaskID: opts.TaskID, Options: opts.Options})
		var se *errServer
		var serr *Error
		switch {
		case errors.As(err, &se):
			e.pool.markDown(e.c.addr)
			e.drop()
			lastErr = err
			continue
		case errors.As(err, &serr) && serr.Field == "session_id":
			e.drop() // the server closed our env (reaped, restarted): make it again
			lastErr = err
			continue
		case errors.As(err, &serr) && serr.Status >= 500:
			// The replica could not start an episode (draining, or its env
			// failed: a starved browser timing out): another replica may.
			// A bad task or options (4xx) would fail everywhere.
			addr := e.c.addr
			e.pool.markDown(addr)
			e.closeRemote()
			lastErr = fmt.Errorf("%s: %w", addr, err)
			continue
		case err != nil:
			return gym.Observation{}, err
		}
		e.done, e.live = false, true
		e.pool.episodeStarted(e.c.addr)
		return *resp.Observation, nil
	}
	return gym.Observation{}, fmt.Errorf("serve: reset %s: %d tries failed, the last: %w", e.id, tries, lastErr)
}

// Step implements gym.Env. A dead server or a timeout is a CRASHED or
// TIMEOUT result that ends the episode, not an error.
func (e *RemoteEnv) Step(ctx context.Context, action string) (gym.StepResult, error) {
	if e.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	if e.c == nil || !e.live {
		return gym.StepResult{}, gym.ErrNotReset
	}
	addr, sent := e.c.addr, time.Now()
	if err := e.failed; err != nil {
		return e.serverFailed(addr, sent, err), nil
	}
	resp, err := e.c.call(ctx, e.pool.stepTimeout, streamRequest{Op: "step", Action: &action})
	var lost *Error
	if errors.As(err, &lost) && lost.Field == "session_id" {
		e.drop()
		e.done = true
		e.pool.stepped(addr, sent, time.Now(), gym.StatusEnvError.String(), true)
		return gym.StepResult{Status: gym.StatusEnvError, Truncated: true, Observation: gym.Observation{Text: "The environment server lost this env: " + lost.Msg, Info: map[string]any{"error": lost.Msg, InfoReplica: addr}}}, nil
	}
	var se *errServer
	if errors.As(err, &se) {
		return e.serverFailed(addr, sent, err), nil
	}
	if err != nil {
		return gym.StepResult{}, err
	}
	e.pool.stepped(addr, sent, time.Now(), resp.Result.Status.String(), resp.Result.Status.Infra())
	e.done = resp.Result.Done()
	return *resp.Result, nil
}

// serverFailed ends the episode on the connection's failure: TIMEOUT when
// it timed out, else CRASHED (and the replica is marked down).
func (e *RemoteEnv) serverFailed(addr string, sent time.Time, err error) gym.StepResult {
	status := gym.StatusCrashed
	var ne net.Error
	switch {
	case errors.Is(err, errStalled):
		// As a stopped local plugin: the step timed out, and the replica
		// is not to be used until it answers again.
		status = gym.StatusTimeout
		e.pool.markDown(addr)
	case errors.As(err, &ne) && ne.Timeout():
		status = gym.StatusTimeout
	default:
		e.pool.markDown(addr)
	}
	e.drop()
	e.done = true
	e.pool.stepped(addr, sent, time.Now(), status.String(), true)
	msg := fmt.Sprintf("server %s failed: %v", addr, err)
	return gym.StepResult{Status: status, Truncated: true, Observation: gym.Observation{Text: "The environment server failed: " + msg, Info: map[string]any{"error": msg, InfoReplica: addr}}}
}

// InfoReplica is the info key of a step that a replica failed: the
// replica's address (the env has left it by the time the caller looks).
const InfoReplica = "replica"

// Server is the address of the server holding the env now ("" if none).
func (e *RemoteEnv) Server() string {
	if e.c == nil {
		return ""
	}
	return e.c.addr
}

// OracleAction implements gym.Oracle for envs whose spec lists it, on
// servers started with --oracle.
func (e *RemoteEnv) OracleAction(ctx context.Context) (string, error) {
	if e.c == nil || !e.live {
		return "", gym.ErrNotReset
	}
	resp, err := e.c.call(ctx, e.pool.stepTimeout, streamRequest{Op: "oracle"})
	var se *errServer
	if errors.As(err, &se) {
		// The replica failed: the next Step reports it as the step would
		// have (CRASHED or TIMEOUT), so the episode is accounted for.
		e.failed = err
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("oracle of %s on %s: %w", e.id, e.c.addr, err)
	}
	return resp.Action, nil
}

// Supports says whether the capability methods the client forwards work:
// Oracle only when the served env's spec lists it.
func (e *RemoteEnv) Supports(capability string) bool {
	if capability == reflect.TypeFor[gym.Oracle]().Name() {
		return slices.Contains(e.spec.Capabilities, capability)
	}
	return true
}

// Spec implements gym.Env.
func (e *RemoteEnv) Spec() gym.Spec { return e.spec }

// Close implements gym.Env.
func (e *RemoteEnv) Close() error {
	e.closeRemote()
	e.done = true
	return nil
}

// closeRemote closes the env on its server, briefly waiting for the
// answer, and hangs up.
func (e *RemoteEnv) closeRemote() {
	if e.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, _ = e.c.call(ctx, time.Second, streamRequest{Op: "close"})
	cancel()
	e.drop()
}
