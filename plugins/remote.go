package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/wire"
	"github.com/envgym/envgym/wire/pb"
)

// Remote is a gym.Env served by a plugin process. It implements every
// capability interface and reports through Supports which ones the env in
// the plugin really has, so gym.Capable works on it as on a local env.
//
// Infrastructure failures never surface as a dead caller: a plugin that
// dies mid-step gives a StatusCrashed result, one that does not answer
// before the deadline gives StatusTimeout; both end the episode
// (Truncated) and the next Reset starts a fresh process when needed.
type Remote struct {
	p     *Plugin
	id    string
	opts  []byte
	optsM map[string]any // opts as given: the host reads paths and allowed_hosts
	spec  gym.Spec
	caps  map[string]bool
	sess  *session
	done  bool // episode over: Step refuses until Reset
	reset bool // a Reset succeeded on the current session
}

// session is one env instance in the plugin process proc.
type session struct {
	proc  *process
	t     transport
	ports map[int]bool // host loopback ports forwarded for this instance
}

// Make opens a remote instance of env id.
func (p *Plugin) Make(ctx context.Context, id string, opts map[string]any) (*Remote, error) {
	b, err := json.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: make %s: options are not JSON-serialisable: %w", p.m.Name, id, err)
	}
	r := &Remote{p: p, id: id, opts: b, optsM: opts}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// open starts a session and makes the env in it.
func (r *Remote) open(ctx context.Context) error {
	proc, err := r.p.conn(ctx)
	if err != nil {
		return err
	}
	t, err := openTransport(proc, r.p.cfg.Transport)
	if err != nil {
		r.p.checkHealth(proc)
		return fmt.Errorf("plugin %s: %w", r.p.m.Name, err)
	}
	r.sess = &session{proc: proc, t: t, ports: map[int]bool{}}
	if err := r.grant(r.optsM); err != nil {
		r.drop()
		return fmt.Errorf("plugin %s: make %s: %w", r.p.m.Name, r.id, err)
	}
	resp, err := r.call(ctx, &pb.Request{Kind: &pb.Request_Make{Make: &pb.Make{EnvId: r.id, OptionsJson: r.opts}}})
	if err == nil {
		err = wire.ErrorFromPB(resp.ErrorKind, resp.Error)
	}
	if err != nil {
		r.drop()
		return fmt.Errorf("plugin %s: make %s: %w", r.p.m.Name, r.id, err)
	}
	caps := resp.Capabilities
	r.caps = map[string]bool{}
	for _, c := range caps {
		r.caps[c] = true
	}
	spec, err := r.instanceSpec(ctx, resp.Data)
	if err != nil {
		r.drop()
		return fmt.Errorf("plugin %s: spec of %s: %w", r.p.m.Name, r.id, err)
	}
	spec.Components = r.p.withComponents(spec.Components)
	spec.Capabilities = caps
	r.spec = spec
	return nil
}

// instanceSpec is the spec of the instance just made: the one the plugin
// sent with its Make answer (options may have changed it), else the one
// the manifest recorded, else (a plugin whose SDK sends neither) a Spec
// call.
func (r *Remote) instanceSpec(ctx context.Context, fromMake []byte) (gym.Spec, error) {
	var spec gym.Spec
	if len(fromMake) > 0 {
		return spec, json.Unmarshal(fromMake, &spec)
	}
	if s, ok := r.p.m.Spec(r.id); ok {
		return s, nil
	}
	resp, err := r.call(ctx, &pb.Request{Kind: &pb.Request_Call{Call: &pb.Call{Method: wire.MethodSpec}}})
	if err == nil {
		err = wire.ErrorFromPB(resp.ErrorKind, resp.Error)
	}
	if err != nil {
		return spec, err
	}
	return spec, json.Unmarshal(resp.Data, &spec)
}

// failure is why a call produced no response.
type failure struct {
	status gym.Status // StatusCrashed or StatusTimeout
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// call sends one request and waits for its response, the caller's
// deadline (or the host's StepTimeout / ResetTimeout), or the plugin's death.
func (r *Remote) call(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	s := r.sess
	if s == nil {
		return nil, gym.ErrNotReset
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		timeout := max(r.p.cfg.StepTimeout, time.Duration(r.spec.StepTimeoutS*float64(time.Second)))
		switch req.Kind.(type) {
		case *pb.Request_Make, *pb.Request_Reset_:
			timeout = r.p.cfg.ResetTimeout
		}
		deadline = time.Now().Add(timeout)
	}
	req.DeadlineUnixNano = deadline.UnixNano()
	resp, err := s.t.roundTrip(ctx, deadline, req)
	switch {
	case err == nil:
	case errors.Is(err, errDeadline):
		return nil, r.timedOut()
	case errors.Is(err, context.Canceled):
		r.drop() // the answer will never be read: the instance is lost
		return nil, err
	default:
		return nil, r.crashed(err)
	}
	if resp.ErrorKind == pb.ErrorKind_ERROR_KIND_DEADLINE {
		// The env gave up at the deadline itself: still a timeout, but
		// the session is intact.
		return nil, &failure{status: gym.StatusTimeout, err: fmt.Errorf("plugin %s: %s", r.p.m.Name, resp.Error)}
	}
	return resp, nil
}

func (r *Remote) crashed(cause error) error {
	s := r.sess
	r.drop()
	r.p.checkHealth(s.proc)
	msg := fmt.Sprintf("plugin %s crashed: %v", r.p.m.Name, cause)
	if tail := lastLines(r.p.crashInfo(), 5); tail != "" {
		msg += "\nplugin stderr (last lines):\n" + tail
	}
	return &failure{status: gym.StatusCrashed, err: errors.New(msg)}
}

func (r *Remote) timedOut() error {
	s := r.sess
	r.drop()
	hung := r.p.checkHealth(s.proc)
	msg := fmt.Sprintf("plugin %s: env %s did not answer before the deadline", r.p.m.Name, r.id)
	if hung {
		msg += "; the plugin did not answer a health check either and was killed"
	}
	return &failure{status: gym.StatusTimeout, err: errors.New(msg)}
}

// drop closes the session; the plugin closes the env on its side.
func (r *Remote) drop() {
	if r.sess == nil {
		return
	}
	r.sess.t.close()
	r.sess.revoke()
	r.sess = nil
	r.reset = false
}

// Reset implements gym.Env. If the plugin died since the last episode, a
// fresh process and instance are started first; a crash during the reset
// itself is retried once.
func (r *Remote) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	var optsJSON []byte
	if len(opts.Options) > 0 {
		b, err := json.Marshal(opts.Options)
		if err != nil {
			return gym.Observation{}, fmt.Errorf("reset options are not JSON-serialisable: %w", err)
		}
		optsJSON = b
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		if r.sess == nil {
			if err := r.open(ctx); err != nil {
				return gym.Observation{}, err
			}
		}
		if err := r.grant(opts.Options); err != nil {
			return gym.Observation{}, fmt.Errorf("plugin %s: reset %s: %w", r.p.m.Name, r.id, err)
		}
		resp, err := r.call(ctx, &pb.Request{Kind: &pb.Request_Reset_{Reset_: &pb.Reset{Seed: opts.Seed, TaskId: opts.TaskID, OptionsJson: optsJSON}}})
		var f *failure
		if errors.As(err, &f) && f.status == gym.StatusCrashed {
			lastErr = err
			continue
		}
		if err != nil {
			return gym.Observation{}, err
		}
		if err := wire.ErrorFromPB(resp.ErrorKind, resp.Error); err != nil {
			return gym.Observation{}, err
		}
		obs, err := wire.ObservationFromPB(resp.Observation)
		if err != nil {
			return obs, err
		}
		r.done, r.reset = false, true
		return obs, nil
	}
	return gym.Observation{}, fmt.Errorf("reset %s: %w", r.id, lastErr)
}

// Step implements gym.Env.
func (r *Remote) Step(ctx context.Context, action string) (gym.StepResult, error) {
	if r.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	if r.sess == nil || !r.reset {
		return gym.StepResult{}, gym.ErrNotReset
	}
	resp, err := r.call(ctx, &pb.Request{Kind: &pb.Request_Step{Step: &pb.Step{Action: []byte(action)}}})
	var f *failure
	if errors.As(err, &f) {
		r.done = true
		return gym.Failed(f.status, f), nil
	}
	if err != nil {
		return gym.StepResult{}, err
	}
	if err := wire.ErrorFromPB(resp.ErrorKind, resp.Error); err != nil {
		return gym.StepResult{}, err
	}
	obs, err := wire.ObservationFromPB(resp.Observation)
	if err != nil {
		return gym.StepResult{}, err
	}
	res := gym.StepResult{Observation: obs, Reward: resp.Reward, Terminated: resp.Terminated, Truncated: resp.Truncated, Status: gym.Status(resp.Status)}
	if res.Status == gym.StatusEnvError && res.Observation.Info == nil && resp.Error != "" {
		res.Observation.Info = map[string]any{"error": resp.Error}
	}
	r.done = res.Done()
	return res, nil
}

// Spec implements gym.Env: the env's own spec plus the plugin's name,
// version and binary checksum in Components.
func (r *Remote) Spec() gym.Spec { return r.spec }

// closeTimeout bounds how long Close waits for the plugin to close its
// env (a browser's shutdown, a swe env removing its containers).
const closeTimeout = 20 * time.Second

// Close implements gym.Env. It returns once the plugin has closed the
// env instance (or closeTimeout passed), so a host stopped right after
// does not cut the env's clean-up short (swe's Docker containers
// outlived their env that way).
func (r *Remote) Close() error {
	if r.sess != nil {
		r.sess.t.closeWait(closeTimeout)
		r.sess.revoke()
		r.sess = nil
		r.reset = false
	}
	r.done = true
	return nil
}

// Supports reports whether the env in the plugin has a capability.
func (r *Remote) Supports(capability string) bool { return r.caps[capability] }

func (r *Remote) callMethod(ctx context.Context, method string, data []byte) (*pb.Response, error) {
	if !r.caps[capabilityOf(method)] && method != wire.MethodSpec {
		return nil, fmt.Errorf("%w: %s by %s", gym.ErrUnsupported, method, r.id)
	}
	resp, err := r.call(ctx, &pb.Request{Kind: &pb.Request_Call{Call: &pb.Call{Method: method, Data: data}}})
	if err != nil {
		return nil, err
	}
	return resp, wire.ErrorFromPB(resp.ErrorKind, resp.Error)
}

func capabilityOf(method string) string {
	switch method {
	case wire.MethodScreenshot:
		return "Screenshotter"
	case wire.MethodValidActions:
		return "ValidActioner"
	case wire.MethodSnapshot, wire.MethodRestore:
		return "Snapshotter"
	case wire.MethodRender:
		return "Renderer"
	case wire.MethodOracle:
		return "Oracle"
	}
	return method
}

// Screenshot implements gym.Screenshotter.
func (r *Remote) Screenshot(ctx context.Context) ([]byte, error) {
	resp, err := r.callMethod(ctx, wire.MethodScreenshot, nil)
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// ValidActions implements gym.ValidActioner.
func (r *Remote) ValidActions(ctx context.Context) ([]string, error) {
	resp, err := r.callMethod(ctx, wire.MethodValidActions, nil)
	if err != nil {
		return nil, err
	}
	var acts []string
	return acts, json.Unmarshal(resp.Data, &acts)
}

// Snapshot implements gym.Snapshotter.
func (r *Remote) Snapshot(ctx context.Context) ([]byte, error) {
	resp, err := r.callMethod(ctx, wire.MethodSnapshot, nil)
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// Restore implements gym.Snapshotter.
func (r *Remote) Restore(ctx context.Context, snapshot []byte) (gym.Observation, error) {
	resp, err := r.callMethod(ctx, wire.MethodRestore, snapshot)
	if err != nil {
		return gym.Observation{}, err
	}
	r.done, r.reset = false, true
	return wire.ObservationFromPB(resp.Observation)
}

// Render implements gym.Renderer.
func (r *Remote) Render(ctx context.Context) (string, error) {
	resp, err := r.callMethod(ctx, wire.MethodRender, nil)
	if err != nil {
		return "", err
	}
	return string(resp.Data), nil
}

// OracleAction implements gym.Oracle.
func (r *Remote) OracleAction(ctx context.Context) (string, error) {
	resp, err := r.callMethod(ctx, wire.MethodOracle, nil)
	if err != nil {
		return "", err
	}
	return string(resp.Data), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
