package serve

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Who a request comes from is decided here and nowhere else, for every
// transport. The identity comes from what the client proves (a named
// token) or from the connection itself (its IP address), never from a
// field or header the client sets: a self-declared name would let one
// client lift its own limits and reach another's sessions.
//
// Transports call authenticate (stream-style: a token and the peer
// address) or authHTTP (an HTTP request: also the browser checks of a
// tokenless loopback server), then create/get with the identity returned.

// TokenFile is the parsed content of a --token-file: either one shared
// token (every client is then told apart by its IP address) or named
// tokens, one client each.
type TokenFile struct {
	Shared string            // the whole file, when it holds a single token
	Named  map[string]string // token → client name
}

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ParseTokenFile reads a token file. A file with one word is a shared
// token. Otherwise each non-empty line that is not a # comment is
// "NAME TOKEN"; names and tokens must be unique, and tokens at least 16
// characters long.
func ParseTokenFile(path string) (TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return TokenFile{}, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		if len(w) > 2 {
			return TokenFile{}, fmt.Errorf("token file %s line %d: want \"NAME TOKEN\" (or a file holding only the token), got %d words", path, n, len(w))
		}
		lines = append(lines, append(w, fmt.Sprint(n)))
	}
	if err := sc.Err(); err != nil {
		return TokenFile{}, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(lines) == 0 {
		return TokenFile{}, fmt.Errorf("token file %s is empty", path)
	}
	if len(lines) == 1 && len(lines[0]) == 2 {
		return TokenFile{Shared: lines[0][0]}, nil
	}
	tf := TokenFile{Named: map[string]string{}}
	names := map[string]bool{}
	for _, l := range lines {
		if len(l) != 3 {
			return TokenFile{}, fmt.Errorf("token file %s line %s: want \"NAME TOKEN\" (a file of several lines names every token)", path, l[len(l)-1])
		}
		name, tok, n := l[0], l[1], l[2]
		switch {
		case !clientNameRE.MatchString(name):
			return TokenFile{}, fmt.Errorf("token file %s line %s: client name %q: want letters, digits, '.', '_', '@' or '-' (at most 64)", path, n, name)
		case len(tok) < 16:
			return TokenFile{}, fmt.Errorf("token file %s line %s: token of %q is %d characters; use at least 16 (e.g. openssl rand -hex 16)", path, n, name, len(tok))
		case names[name]:
			return TokenFile{}, fmt.Errorf("token file %s line %s: client name %q appears twice", path, n, name)
		case tf.Named[tok] != "":
			return TokenFile{}, fmt.Errorf("token file %s line %s: %q has the same token as %q", path, n, name, tf.Named[tok])
		}
		names[name] = true
		tf.Named[tok] = name
	}
	return tf, nil
}

func (s *Server) hasToken() bool { return s.cfg.Token != "" || len(s.cfg.Tokens) > 0 }

// authenticate checks token and returns the client identity: "token:NAME"
// for a named token, else "addr:IP" of the peer (shared token or none).
func (s *Server) authenticate(token, remoteAddr string) (string, error) {
	if !s.hasToken() {
		return addrIdentity(remoteAddr), nil
	}
	var name string
	ok := 0
	// Compare against every token so the time taken does not say which
	// one was close.
	for tok, n := range s.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(token), []byte(tok)) == 1 {
			name, ok = n, 1
		}
	}
	if s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) == 1 {
		ok = 1
	}
	if ok == 0 || token == "" {
		s.metrics.unauthorized.Add(1)
		return "", errorf(401, "token", "missing or wrong token")
	}
	if name != "" {
		return "token:" + name, nil
	}
	return addrIdentity(remoteAddr), nil
}

func addrIdentity(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return "addr:" + host
}

// authHTTP authenticates an HTTP request (bearer token) and returns the
// client identity. On a tokenless server, which only listens on
// loopback, any web page the user visits could otherwise drive it: a
// cross-site "simple" POST (text/plain) needs no CORS preflight, and a
// DNS-rebinding page reaches 127.0.0.1 under its own host name. So there
// the Host must be a loopback name, an Origin (sent by browsers) must be
// the server itself, and a POST must be application/json.
func (s *Server) authHTTP(r *http.Request) (string, error) {
	if s.hasToken() {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		client, err := s.authenticate(token, r.RemoteAddr)
		if err != nil {
			return "", errorf(401, "Authorization", "missing or wrong bearer token")
		}
		return client, nil
	}
	if !loopbackHost(r.Host) {
		return "", errorf(403, "Host", "Host %q is not a loopback name; a tokenless gym serve answers only to localhost/127.0.0.1/[::1] (set a token to serve other names)", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "", errorf(403, "Origin", "cross-origin request from %q refused: a tokenless gym serve accepts no browser requests from other origins", o)
		}
	}
	if r.Method == http.MethodPost {
		ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
		if ct != "application/json" {
			return "", errorf(415, "Content-Type", "Content-Type %q: send application/json", r.Header.Get("Content-Type"))
		}
	}
	return addrIdentity(r.RemoteAddr), nil
}

// loopbackHost reports whether an HTTP Host (name[:port]) is a loopback
// name or address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
