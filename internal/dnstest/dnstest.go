// Package dnstest is a small authoritative DNS server on loopback UDP for
// tests of DNS discovery: it answers A queries for the names it is given,
// as Docker Swarm's tasks.<service> or a Kubernetes headless Service
// answer with one IP per replica, and the answer can change while it runs.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers A queries from its table; other names get NXDOMAIN and
// other types an empty answer.
type Server struct {
	conn net.PacketConn
	mu   sync.Mutex
	a    map[string][]netip.Addr // fully qualified, lower case
}

// Start listens on 127.0.0.1 on a free UDP port.
func Start() (*Server, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{conn: conn, a: map[string][]netip.Addr{}}
	go s.serve()
	return s, nil
}

// Addr is the server's ip:port.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Set makes name resolve to ips (none: NXDOMAIN).
func (s *Server) Set(name string, ips ...string) {
	var as []netip.Addr
	for _, ip := range ips {
		as = append(as, netip.MustParseAddr(ip))
	}
	s.mu.Lock()
	s.a[fqdn(name)] = as
	s.mu.Unlock()
}

// Close stops the server.
func (s *Server) Close() error { return s.conn.Close() }

// Resolver is a pure-Go resolver that asks only this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr())
	}}
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := s.answer(buf[:n]); ok {
			_, _ = s.conn.WriteTo(out, from)
		}
	}
}

func (s *Server) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	ips, known := s.a[strings.ToLower(q.Name.String())]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !known || len(ips) == 0 {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false
	}
	if err := b.Question(q); err != nil {
		return nil, false
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false
	}
	if q.Type == dnsmessage.TypeA {
		for _, ip := range ips {
			if !ip.Is4() {
				continue
			}
			if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, dnsmessage.AResource{A: ip.As4()}); err != nil {
				return nil, false
			}
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
