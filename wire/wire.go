// Package wire is the contract shared by the plugin host and the SDK: the
// go-plugin handshake, the plugin map, and conversions between gym values
// and their protobuf form. Neither side's logic lives here.
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/wire/pb"
)

// PluginName is the key of the env service in the go-plugin plugin map.
const PluginName = "env"

// SDKVersion is reported by plugins in Describe.
const SDKVersion = "0.1.0"

// EnvCgroupDir is the environment variable in which the host tells a root
// plugin (sandbox.root: swe) the cgroup subtree delegated to it: a path
// relative to each cgroup v1 hierarchy's mount (memory, pids, cpu) under
// which it may create its sandboxes' groups. The rest of the tree is
// read-only to it. Unset when nothing is delegated.
const EnvCgroupDir = "ENVGYM_CGROUP_DIR"

// Handshake keeps a gym host from running arbitrary binaries as plugins
// and a plugin from being run by a host speaking another protocol.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ENVGYM_PLUGIN",
	MagicCookieValue: "b6f1c3e2-envgym-env-plugin",
}

// GRPCPlugin adapts an EnvPluginServer (plugin side) or returns a client
// stub (host side) for go-plugin.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl pb.EnvPluginServer
}

// GRPCServer registers the env service on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterEnvPluginServer(s, p.Impl)
	return nil
}

// GRPCClient returns the stub the host calls.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewEnvPluginClient(c), nil
}

// Capability call method names.
const (
	MethodSpec         = "Spec"
	MethodScreenshot   = "Screenshot"
	MethodValidActions = "ValidActions"
	MethodSnapshot     = "Snapshot"
	MethodRestore      = "Restore"
	MethodRender       = "Render"
	MethodOracle       = "OracleAction"
)

// ObservationToPB converts for the wire.
func ObservationToPB(o gym.Observation) (*pb.Observation, error) {
	out := &pb.Observation{Text: []byte(o.Text), Screenshot: o.Screenshot, ValidActions: validUTF8(o.ValidActions)}
	if len(o.Info) > 0 {
		b, err := json.Marshal(o.Info)
		if err != nil {
			return nil, fmt.Errorf("wire: observation info is not JSON-serialisable: %w", err)
		}
		out.InfoJson = b
	}
	return out, nil
}

// ObservationFromPB converts from the wire.
func ObservationFromPB(o *pb.Observation) (gym.Observation, error) {
	if o == nil {
		return gym.Observation{}, nil
	}
	out := gym.Observation{Text: string(o.Text), Screenshot: o.Screenshot, ValidActions: o.ValidActions}
	if len(o.InfoJson) > 0 {
		if err := json.Unmarshal(o.InfoJson, &out.Info); err != nil {
			return out, fmt.Errorf("wire: observation info: %w", err)
		}
	}
	return out, nil
}

// ErrPanic marks an env that panicked inside the plugin.
var ErrPanic = errors.New("env panicked")

var kinds = []struct {
	kind pb.ErrorKind
	err  error
}{
	{pb.ErrorKind_ERROR_KIND_NOT_RESET, gym.ErrNotReset},
	{pb.ErrorKind_ERROR_KIND_EPISODE_DONE, gym.ErrEpisodeDone},
	{pb.ErrorKind_ERROR_KIND_CLOSED, gym.ErrClosed},
	{pb.ErrorKind_ERROR_KIND_UNKNOWN_TASK, gym.ErrUnknownTask},
	{pb.ErrorKind_ERROR_KIND_UNSUPPORTED, gym.ErrUnsupported},
	{pb.ErrorKind_ERROR_KIND_UNKNOWN_ENV, gym.ErrUnknownEnvID},
	{pb.ErrorKind_ERROR_KIND_CANCELED, context.Canceled},
	{pb.ErrorKind_ERROR_KIND_DEADLINE, context.DeadlineExceeded},
	{pb.ErrorKind_ERROR_KIND_PANIC, ErrPanic},
}

// ErrorKind classifies err for the wire so errors.Is keeps working on the
// host side.
func ErrorKind(err error) pb.ErrorKind {
	if err == nil {
		return pb.ErrorKind_ERROR_KIND_NONE
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return pb.ErrorKind_ERROR_KIND_OTHER
}

// remoteError keeps the plugin's message and the sentinel it matched.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// ErrorFromPB rebuilds an error from the wire; nil when kind is NONE.
func ErrorFromPB(kind pb.ErrorKind, msg string) error {
	if kind == pb.ErrorKind_ERROR_KIND_NONE {
		return nil
	}
	for _, k := range kinds {
		if k.kind == kind {
			return &remoteError{msg: msg, sentinel: k.err}
		}
	}
	return &remoteError{msg: msg}
}

// validUTF8 repairs strings for proto3 string fields, which must be UTF-8.
func validUTF8(ss []string) []string {
	for i, s := range ss {
		if !utf8.ValidString(s) {
			out := append([]string(nil), ss...)
			for j := i; j < len(out); j++ {
				out[j] = strings.ToValidUTF8(out[j], "\uFFFD")
			}
			return out
		}
	}
	return ss
}

// ErrorText makes an error message safe for a proto3 string field.
func ErrorText(err error) string { return strings.ToValidUTF8(err.Error(), "\uFFFD") }
