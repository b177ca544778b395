package plugins

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/envgym/envgym/wire"
	"github.com/envgym/envgym/wire/pb"
)

// Transport names how session messages travel to the plugin.
const (
	// TransportSocket: length-prefixed protobuf frames on a unix socket the
	// plugin opened; the default, about half the latency of gRPC.
	TransportSocket = "socket"
	// TransportGRPC: a bidirectional gRPC stream over go-plugin's
	// connection; used when a plugin offers no socket.
	TransportGRPC = "grpc"
)

// transport carries one env instance's requests and responses.
type transport interface {
	// roundTrip sends req and waits for its response until deadline or
	// ctx's cancellation. It returns errDeadline when the deadline passed,
	// ctx.Err() when the caller cancelled, and any other error when the
	// connection broke (the plugin crashed).
	roundTrip(ctx context.Context, deadline time.Time, req *pb.Request) (*pb.Response, error)
	// close drops the instance at once (the plugin closes its env on
	// its own time, if it still can).
	close()
	// closeWait ends the sending side and waits, up to d, until the
	// plugin has closed its env instance and hung up: what the env holds
	// (browsers, containers) is released before the caller goes on to,
	// say, stop the plugin.
	closeWait(d time.Duration)
}

var errDeadline = errors.New("deadline exceeded")

func openTransport(proc *process, kind string) (transport, error) {
	if kind != TransportGRPC && proc.socket != "" {
		c, err := net.Dial("unix", proc.socket)
		if err != nil {
			return nil, fmt.Errorf("dial session socket: %w", err)
		}
		return &socketTransport{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := proc.stub.Session(sctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open session stream: %w", err)
	}
	g := &grpcTransport{stream: stream, ctx: sctx, cancel: cancel, recv: make(chan recvResult, 1)}
	go g.readLoop()
	return g, nil
}

type socketTransport struct {
	c          net.Conn
	r          *bufio.Reader
	w          *bufio.Writer
	rbuf, wbuf []byte
}

func (t *socketTransport) roundTrip(ctx context.Context, deadline time.Time, req *pb.Request) (*pb.Response, error) {
	if err := t.c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		// Cancellation unblocks the read by moving the deadline to the past.
		stop := context.AfterFunc(ctx, func() { t.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	resp := &pb.Response{}
	var err error
	if t.wbuf, err = wire.WriteFrame(t.w, req, t.wbuf); err == nil {
		t.rbuf, err = wire.ReadFrame(t.r, resp, t.rbuf)
	}
	if err == nil {
		return resp, nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || ctx.Err() != nil {
		return nil, errDeadline
	}
	return nil, err
}

func (t *socketTransport) close() { t.c.Close() }

func (t *socketTransport) closeWait(d time.Duration) {
	defer t.c.Close()
	uc, ok := t.c.(*net.UnixConn)
	if !ok || uc.CloseWrite() != nil {
		return
	}
	// The plugin reads EOF, closes its env, then closes the connection.
	if uc.SetReadDeadline(time.Now().Add(d)) == nil {
		_, _ = io.Copy(io.Discard, uc)
	}
}

type grpcTransport struct {
	stream pb.EnvPlugin_SessionClient
	ctx    context.Context
	cancel context.CancelFunc
	recv   chan recvResult
}

type recvResult struct {
	resp *pb.Response
	err  error
}

func (g *grpcTransport) readLoop() {
	for {
		resp, err := g.stream.Recv()
		select {
		case g.recv <- recvResult{resp, err}:
		case <-g.ctx.Done(): // closed: nobody will read
			return
		}
		if err != nil {
			return
		}
	}
}

func (g *grpcTransport) roundTrip(ctx context.Context, deadline time.Time, req *pb.Request) (*pb.Response, error) {
	if err := g.stream.Send(req); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case res := <-g.recv:
		return res.resp, res.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, errDeadline
	case <-timer.C:
		return nil, errDeadline
	}
}

func (g *grpcTransport) close() {
	_ = g.stream.CloseSend()
	g.cancel()
}

func (g *grpcTransport) closeWait(d time.Duration) {
	defer g.cancel()
	if g.stream.CloseSend() != nil {
		return
	}
	// The plugin's Session handler returns (and its stream ends) once
	// it has closed its env.
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case res := <-g.recv:
			if res.err != nil {
				return
			}
		case <-timer.C:
			return
		}
	}
}
