package serve

import (
	"errors"
	"net"
	"sync"
)

// errTooManyConns is returned by admit when a connection limit is reached.
var errTooManyConns = errors.New("too many connections")

// connLimiter counts open connections, in total and per peer IP, so a
// single host cannot take every slot (nor every file descriptor).
type connLimiter struct {
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

func newConnLimiter(max, perAddr int) *connLimiter {
	return &connLimiter{max: max, perAddr: perAddr, byAddr: map[string]int{}}
}

// admit takes a slot for a connection from remoteAddr; release gives it
// back (call it exactly once).
func (l *connLimiter) admit(remoteAddr string) (release func(), err error) {
	ip := addrIdentity(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byAddr[ip] >= l.perAddr {
		return nil, errTooManyConns
	}
	l.total++
	l.byAddr[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byAddr[ip]--; l.byAddr[ip] <= 0 {
				delete(l.byAddr, ip)
			}
		})
	}, nil
}

// LimitListener wraps ln (e.g. the HTTP listener) so that connections over
// the server's limits are closed as soon as they are accepted. The stream
// transport limits its own connections.
func (s *Server) LimitListener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, s: s}
}

type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.s.limiter.admit(c.RemoteAddr().String())
		if err != nil {
			l.s.metrics.refusedConns.Add(1)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: release}, nil
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
