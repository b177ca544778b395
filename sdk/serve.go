// Package sdk is the env author's side of the plugin boundary: Serve turns
// registered env factories into a plugin binary, and envtest checks an env
// against the contract. Authors never see gRPC.
package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/wire"
	"github.com/envgym/envgym/wire/pb"
)

// Serve serves every env registered in reg over go-plugin and returns when
// the host disconnects. It is the whole main of a plugin binary:
//
//	func main() {
//		reg := gym.NewRegistry()
//		mypkg.Register(reg)
//		sdk.Serve(reg)
//	}
//
// Run by hand (not by a gym host), the binary says it is a plugin and exits.
func Serve(reg *gym.Registry) {
	sandboxSelf()
	srv := &server{reg: reg}
	if sock, err := listenSessions(srv); err != nil {
		// The gRPC stream still works; only the fast path is lost.
		fmt.Fprintf(os.Stderr, "envgym plugin: session socket: %v\n", err)
	} else {
		defer sock.Close()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{Impl: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// ServeEnv is Serve for a plugin with a single env id.
func ServeEnv(spec gym.Spec, factory gym.Factory) {
	reg := gym.NewRegistry()
	reg.MustRegister(spec, factory)
	Serve(reg)
}

type server struct {
	pb.UnimplementedEnvPluginServer
	reg    *gym.Registry
	socket string // path of the session socket, if listening
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	resp := &pb.DescribeResponse{Pid: int32(os.Getpid()), SdkVersion: wire.SDKVersion, SessionSocket: s.socket}
	for _, spec := range s.reg.Specs() {
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, fmt.Errorf("sdk: spec %s: %w", spec.ID, err)
		}
		resp.SpecsJson = append(resp.SpecsJson, b)
	}
	return resp, nil
}

func (s *server) Session(stream pb.EnvPlugin_SessionServer) error {
	sess := &session{reg: s.reg}
	defer sess.close()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // host closed the instance or went away
		}
		if err := stream.Send(sess.handle(stream.Context(), req)); err != nil {
			return err
		}
	}
}

// session is one env instance on the plugin side.
type session struct {
	reg     *gym.Registry
	envID   string
	options map[string]any
	env     gym.Env
}

func (s *session) close() {
	if s.env != nil {
		func() {
			defer func() { _ = recover() }() // a panicking Close must not take the plugin down
			_ = s.env.Close()
		}()
		s.env = nil
	}
}

func (s *session) handle(ctx context.Context, req *pb.Request) (resp *pb.Response) {
	if req.DeadlineUnixNano > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, req.DeadlineUnixNano))
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			// The env is in an unknown state: drop it, and let the next
			// Reset build a fresh one.
			stack := string(debug.Stack())
			s.close()
			msg := fmt.Sprintf("env panicked: %v", p)
			if _, isStep := req.Kind.(*pb.Request_Step); isStep {
				resp = envErrorResult(msg, stack)
				return
			}
			resp = errResponse(fmt.Errorf("%w: %v", wire.ErrPanic, p))
		}
	}()
	switch k := req.Kind.(type) {
	case *pb.Request_Make:
		return s.make(ctx, k.Make)
	case *pb.Request_Reset_:
		return s.reset(ctx, k.Reset_)
	case *pb.Request_Step:
		return s.step(ctx, k.Step)
	case *pb.Request_Call:
		return s.call(ctx, k.Call)
	default:
		return errResponse(errors.New("sdk: empty request"))
	}
}

func (s *session) make(ctx context.Context, m *pb.Make) *pb.Response {
	if s.env != nil {
		return errResponse(errors.New("sdk: session already has an env"))
	}
	var opts map[string]any
	if len(m.OptionsJson) > 0 {
		if err := json.Unmarshal(m.OptionsJson, &opts); err != nil {
			return errResponse(fmt.Errorf("sdk: make options: %w", err))
		}
	}
	env, err := s.reg.Make(ctx, m.EnvId, opts)
	if err != nil {
		return errResponse(err)
	}
	s.envID, s.options, s.env = m.EnvId, opts, env
	// The instance's spec rides on the answer (options may change it, e.g.
	// a step limit or a task file), so the host needs no Spec call.
	spec := env.Spec()
	spec.Capabilities = gym.Capabilities(env)
	b, err := json.Marshal(spec)
	if err != nil {
		return errResponse(fmt.Errorf("sdk: spec of %s: %w", m.EnvId, err))
	}
	return &pb.Response{Capabilities: spec.Capabilities, Data: b}
}

func (s *session) reset(ctx context.Context, r *pb.Reset) *pb.Response {
	if s.env == nil {
		if s.envID == "" {
			return errResponse(errors.New("sdk: reset before make"))
		}
		env, err := s.reg.Make(ctx, s.envID, s.options)
		if err != nil {
			return errResponse(err)
		}
		s.env = env
	}
	opts := gym.ResetOptions{Seed: r.Seed, TaskID: r.TaskId}
	if len(r.OptionsJson) > 0 {
		if err := json.Unmarshal(r.OptionsJson, &opts.Options); err != nil {
			return errResponse(fmt.Errorf("sdk: reset options: %w", err))
		}
	}
	obs, err := s.env.Reset(ctx, opts)
	if err != nil {
		return errResponse(err)
	}
	return obsResponse(obs)
}

func (s *session) step(ctx context.Context, st *pb.Step) *pb.Response {
	if s.env == nil {
		return errResponse(gym.ErrNotReset)
	}
	r, err := s.env.Step(ctx, string(st.Action))
	if err != nil {
		switch wire.ErrorKind(err) {
		case pb.ErrorKind_ERROR_KIND_OTHER, pb.ErrorKind_ERROR_KIND_UNKNOWN_TASK, pb.ErrorKind_ERROR_KIND_UNKNOWN_ENV:
			// Not contract misuse: the env failed on its own.
			return envErrorResult(wire.ErrorText(err), "")
		}
		return errResponse(err)
	}
	resp := obsResponse(r.Observation)
	resp.Reward, resp.Terminated, resp.Truncated, resp.Status = r.Reward, r.Terminated, r.Truncated, int32(r.Status)
	return resp
}

func (s *session) call(ctx context.Context, c *pb.Call) *pb.Response {
	if s.env == nil {
		return errResponse(gym.ErrNotReset)
	}
	unsupported := errResponse(fmt.Errorf("%w: %s", gym.ErrUnsupported, c.Method))
	var data []byte
	var err error
	switch c.Method {
	case wire.MethodSpec:
		data, err = json.Marshal(s.env.Spec())
	case wire.MethodScreenshot:
		e, ok := gym.Capable[gym.Screenshotter](s.env)
		if !ok {
			return unsupported
		}
		data, err = e.Screenshot(ctx)
	case wire.MethodValidActions:
		e, ok := gym.Capable[gym.ValidActioner](s.env)
		if !ok {
			return unsupported
		}
		var acts []string
		if acts, err = e.ValidActions(ctx); err == nil {
			data, err = json.Marshal(acts)
		}
	case wire.MethodSnapshot:
		e, ok := gym.Capable[gym.Snapshotter](s.env)
		if !ok {
			return unsupported
		}
		data, err = e.Snapshot(ctx)
	case wire.MethodRestore:
		e, ok := gym.Capable[gym.Snapshotter](s.env)
		if !ok {
			return unsupported
		}
		obs, err := e.Restore(ctx, c.Data)
		if err != nil {
			return errResponse(err)
		}
		return obsResponse(obs)
	case wire.MethodRender:
		e, ok := gym.Capable[gym.Renderer](s.env)
		if !ok {
			return unsupported
		}
		var text string
		text, err = e.Render(ctx)
		data = []byte(text)
	case wire.MethodOracle:
		e, ok := gym.Capable[gym.Oracle](s.env)
		if !ok {
			return unsupported
		}
		var a string
		a, err = e.OracleAction(ctx)
		data = []byte(a)
	default:
		return unsupported
	}
	if err != nil {
		return errResponse(err)
	}
	return &pb.Response{Data: data}
}

func obsResponse(obs gym.Observation) *pb.Response {
	o, err := wire.ObservationToPB(obs)
	if err != nil {
		return envErrorResult(wire.ErrorText(err), "")
	}
	return &pb.Response{Observation: o}
}

// envErrorResult is gym.Failed on the wire.
// envErrorResult is the ENV_ERROR step of an env that failed; traceback
// (a panic's stack, or "") goes to info for the env's author.
func envErrorResult(msg, traceback string) *pb.Response {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	r := gym.Failed(gym.StatusEnvError, errors.New(msg))
	info := map[string]any{gym.InfoError: msg}
	if traceback != "" {
		info[gym.InfoTraceback] = strings.ToValidUTF8(traceback, "\uFFFD")
	}
	infoJSON, _ := json.Marshal(info)
	return &pb.Response{
		Observation: &pb.Observation{Text: []byte(r.Observation.Text), InfoJson: infoJSON},
		Truncated:   r.Truncated,
		Status:      int32(r.Status),
		Error:       msg,
	}
}

func errResponse(err error) *pb.Response {
	return &pb.Response{ErrorKind: wire.ErrorKind(err), Error: wire.ErrorText(err)}
}
