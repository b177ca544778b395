package browser

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Hosts is a network policy: the hosts a page may reach. An entry is a
// host ("example.com": any port), "host:port", a URL (its host and port),
// or "*.example.com" (the subdomains). A nil Hosts allows everything; an
// empty, non-nil one allows nothing.
type Hosts []string

// ParseHosts checks each entry of a user's allowed_hosts and normalises
// URLs to their host[:port]; field names the option in errors.
func ParseHosts(field string, entries []string) (Hosts, error) {
	out := make(Hosts, 0, len(entries))
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "://") {
			u, err := url.Parse(e)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("%s[%d]: %q is not a URL with a host", field, i, e)
			}
			e = u.Host
		}
		if e == "" || strings.ContainsAny(e, "/ ?#") {
			return nil, fmt.Errorf("%s[%d]: %q: expected a host, host:port, URL or *.domain", field, i, e)
		}
		out = append(out, strings.ToLower(e))
	}
	return out, nil
}

// Allows reports whether the policy lets a request reach hostport
// (host[:port], as in a URL or a CONNECT line).
func (h Hosts) Allows(hostport string) bool {
	if h == nil {
		return true
	}
	hostport = strings.ToLower(hostport)
	host := hostport
	if hn, _, err := net.SplitHostPort(hostport); err == nil {
		host = hn
	}
	host = strings.Trim(host, "[]")
	for _, e := range h {
		switch {
		case e == hostport || e == host || strings.Trim(e, "[]") == host:
			return true
		case strings.HasPrefix(e, "*.") && strings.HasSuffix(host, e[1:]):
			return true
		}
	}
	return false
}

// AllowsURL is Allows for the host of u, with the scheme's default port
// when u names none.
func (h Hosts) AllowsURL(u *url.URL) bool {
	hp := u.Host
	if u.Port() == "" {
		switch u.Scheme {
		case "http", "ws":
			hp = net.JoinHostPort(u.Hostname(), "80")
		case "https", "wss":
			hp = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	return h.Allows(hp) || h.Allows(u.Host)
}

// maxBlocked bounds the blocked requests remembered between two reads.
const maxBlocked = 50

// policyProxy is the HTTP proxy of one browser context: Chromium sends
// every request of the context through it (pages, frames, workers,
// service workers, WebSockets; loopback included), and it forwards only
// what the policy allows. Unlike Fetch interception on a page target, it
// needs no attach to each popup, frame or worker before they start.
type policyProxy struct {
	ln  net.Listener
	srv *http.Server
	rp  *httputil.ReverseProxy
	tr  *http.Transport

	mu      sync.Mutex
	hosts   Hosts
	blocked []string
	dropped int
}

func startProxy() (*policyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browser: policy proxy: %w", err)
	}
	p := &policyProxy{ln: ln, hosts: Hosts{}}
	p.tr = &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	p.rp = &httputil.ReverseProxy{
		Rewrite:       func(*httputil.ProxyRequest) {}, // the request already names its absolute URL
		Transport:     p.tr,
		FlushInterval: -1, // stream (server-sent events, slow bodies)
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler:  unreachable,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go p.srv.Serve(ln)
	return p, nil
}

// addr is the proxy's "http://127.0.0.1:PORT".
func (p *policyProxy) addr() string { return "http://" + p.ln.Addr().String() }

// setHosts starts an episode's policy; what was refused before (the
// context's idle time in the spare pool) is not the episode's.
func (p *policyProxy) setHosts(h Hosts) {
	p.mu.Lock()
	p.hosts, p.blocked, p.dropped = h, nil, 0
	p.mu.Unlock()
}

func (p *policyProxy) allows(hostport string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hosts.Allows(hostport)
}

func (p *policyProxy) block(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.blocked) < maxBlocked {
		p.blocked = append(p.blocked, what)
	} else {
		p.dropped++
	}
}

// takeBlocked returns the requests blocked since the last call.
func (p *policyProxy) takeBlocked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.blocked
	if p.dropped > 0 {
		b = append(b, fmt.Sprintf("(%d more)", p.dropped))
	}
	p.blocked, p.dropped = nil, 0
	return b
}

const blockedBody = "Blocked by the task's network policy: %s is not in allowed_hosts.\n"

// unreachable answers a request to an allowed host that could not be
// reached with a page saying so: without it the page is blank, and
// neither the agent nor the user learns why.
func unreachable(w http.ResponseWriter, r *http.Request, err error) {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err // "connect: connection refused", without the address again
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "Could not reach %s (%v).\n", r.URL.Host, err)
	if ip := net.ParseIP(r.URL.Hostname()); r.URL.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
		fmt.Fprintf(w, "A server on the gym's own machine? Name it in the env's make option allowed_hosts, e.g. {\"allowed_hosts\": [\"http://%s\"]}: the web plugin's sandbox reaches only the host ports named there (envs/web/README.md, Bring your own site).\n", r.URL.Host)
	}
}

func (p *policyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Host == "" {
		http.Error(w, "this is a proxy", http.StatusBadRequest)
		return
	}
	hp := r.URL.Host
	if r.URL.Port() == "" {
		hp = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	if !p.allows(hp) {
		p.block(r.Method + " " + r.URL.String())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, blockedBody, r.URL.Host)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// tunnel serves CONNECT (https, and ws:// through a proxy) by host:port.
func (p *policyProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	if !p.allows(r.Host) {
		p.block("CONNECT " + r.Host)
		http.Error(w, fmt.Sprintf(blockedBody, r.Host), http.StatusForbidden)
		return
	}
	up, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, buf); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	<-done
	<-done
	conn.Close()
	up.Close()
}

func (p *policyProxy) close() error {
	err := p.srv.Close()
	p.tr.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
