package swe

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// ErrSandbox marks failures of the sandbox itself (it could not start, the
// toolchain is missing, a limit could not be set): infrastructure, never
// the agent's fault. Errors returned by Exec wrap it; a command that ran
// and exited non-zero is not an error at all.
var ErrSandbox = errors.New("swe: sandbox failure")

// Backend starts sandboxes; the namespace backend and the Docker backend
// implement it with the same behaviour.
type Backend interface {
	Name() string
	// Start makes an isolated sandbox with an empty, writable workspace.
	Start(ctx context.Context) (Sandbox, error)
}

// Sandbox is one episode's isolated place to run commands. Its workspace
// is a host directory the env fills and reads with os.Root (so symlinks
// made inside cannot lead the host outside it).
type Sandbox interface {
	// Workspace is the host path of the workspace directory.
	Workspace() string
	// Exec runs a shell command line in the workspace, without network,
	// under the sandbox's limits. A non-zero exit is reported in the
	// result, not as an error; errors wrap ErrSandbox.
	Exec(ctx context.Context, cmd string, opts ExecOptions) (ExecResult, error)
	// Close kills what still runs and removes the workspace.
	Close() error
}

// ExecOptions bound one command.
type ExecOptions struct {
	Timeout   time.Duration // wall clock; 0: 30 s
	MaxOutput int           // bytes of combined output kept; 0: 64 KiB
}

// ExecResult is how a command ended.
type ExecResult struct {
	Output    []byte // combined stdout and stderr, truncated to MaxOutput
	Truncated bool
	ExitCode  int // -1 when killed
	TimedOut  bool
	Duration  time.Duration
}

func (o ExecOptions) withDefaults() ExecOptions {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = 64 << 10
	}
	return o
}

// capWriter keeps the first max bytes written and counts the rest.
type capWriter struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
			w.truncated = true
		} else {
			w.buf.Write(p)
		}
	} else if len(p) > 0 {
		w.truncated = true
	}
	return len(p), nil
}
