package sdk

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"

	"github.com/envgym/envgym/wire"
	"github.com/envgym/envgym/wire/pb"
)

// sessionListener serves sessions on a unix socket as length-prefixed
// protobuf frames: the host's fast path, about half the latency of a gRPC
// stream message because there is no HTTP/2 framing or flow control.
type sessionListener struct {
	ln  net.Listener
	dir string
}

// listenSessions opens the socket in a private directory (0700) so only
// the host user can connect, and starts accepting.
func listenSessions(srv *server) (*sessionListener, error) {
	dir, err := os.MkdirTemp(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "envgym-sessions-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv.socket = path
	l := &sessionListener{ln: ln, dir: dir}
	go l.accept(srv)
	return l, nil
}

func (l *sessionListener) accept(srv *server) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go serveConn(srv, c)
	}
}

func (l *sessionListener) Close() error {
	err := l.ln.Close()
	os.RemoveAll(l.dir)
	return err
}

// serveConn runs one env instance for the life of the connection.
func serveConn(srv *server, c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &session{reg: srv.reg}
	defer sess.close()
	r, w := bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 64<<10)
	var rbuf, wbuf []byte
	var err error
	for {
		req := &pb.Request{}
		if rbuf, err = wire.ReadFrame(r, req, rbuf); err != nil {
			return // host closed the instance or went away
		}
		if wbuf, err = wire.WriteFrame(w, sess.handle(ctx, req), wbuf); err != nil {
			return
		}
	}
}
