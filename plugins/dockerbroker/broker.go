// Package dockerbroker is a filtering proxy of the Docker Engine API for
// one plugin: it serves on a unix socket the plugin sees as
// /var/run/docker.sock and forwards to the real engine only what swe's
// Docker backend (envs/swe/docker.go, dockerimage.go) does, for
// containers of swe's shape made from the plugin's own image. Docker is
// root on the host: with the real socket, a plugin could start a
// privileged container with / bound; through its broker it can start only
// an unprivileged, networkless, read-only container with no capability,
// bounded resources and mounts from its own directories.
//
// Allowed (anything else is 403 with a message saying what and why):
//
//	GET|HEAD /_ping, GET /version
//	GET  /containers/json              only the plugin's containers (label filter added)
//	POST /containers/create            swe's fixed options only (policy.go)
//	GET  /containers/ID/json, logs, archive; HEAD archive (never PUT:
//	                                   the engine extracts as root on the host)
//	POST /containers/ID/start, stop, kill, wait, pause, unpause, attach, exec
//	DELETE /containers/ID              ID: a container the broker made for this plugin
//	POST /exec/ID/start (hijacked stream), resize; GET /exec/ID/json
//	                                   ID: an exec the broker made
//	GET  /images/REPO[:TAG]/json       the plugin's own repository only
//	POST /images/create?fromSrc=-      import into its own repository, new tags only
//
// each under an optional /vX.Y API version prefix, as the Docker client
// sends them.
package dockerbroker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/filters"
)

// DefaultEngine is the real engine's socket: DOCKER_HOST when it names a
// unix socket, else /var/run/docker.sock.
func DefaultEngine() string {
	if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && h != "" {
		return h
	}
	return "/var/run/docker.sock"
}

// Broker is the policy and state of one plugin's broker: the containers
// and execs it made, and the mount sources it pinned. It is an
// http.Handler; Listen serves it on a unix socket.
type Broker struct {
	pol    Policy
	engine *http.Client // the broker's own requests to the engine
	proxy  *httputil.ReverseProxy
	roots  []root

	mu    sync.Mutex
	owned map[string]bool     // full container ids known to be the plugin's
	execs map[string]string   // exec id -> its container's id
	pins  map[string][]string // container id -> pinned sources not yet started
	npins int
}

// maxPins bounds the pinned mount sources of the plugin's containers
// (each is a bind mount on the host); past gcAfter containers with pins,
// a create first releases those of containers gone (auto-removed).
const (
	maxPins = 512
	gcAfter = 16
)

// New makes a broker for one plugin in front of the engine listening on
// the unix socket engineSocket.
func New(pol Policy, engineSocket string) (*Broker, error) {
	pol = pol.withDefaults()
	if pol.Owner == "" || pol.ImageRepo == "" || pol.PinDir == "" || len(pol.Roots) == 0 {
		return nil, errors.New("docker broker: the policy needs an owner, an image repository, a pin directory and roots")
	}
	roots, err := openRoots(pol.Roots)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", engineSocket)
		},
		MaxIdleConns:    16,
		IdleConnTimeout: 30 * time.Second,
	}
	b := &Broker{
		pol:    pol,
		engine: &http.Client{Transport: tr},
		roots:  roots,
		owned:  map[string]bool{},
		execs:  map[string]string{},
		pins:   map[string][]string{},
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", "docker", "docker"
		},
		Transport:     tr,
		FlushInterval: -1, // logs, attach and import progress stream
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "docker broker: the Docker engine: "+err.Error())
		},
	}
	return b, nil
}

// Close releases the pinned mount sources; containers stay (the plugin's
// leftovers are its own to sweep, through a later broker).
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for id, ps := range b.pins {
		errs = append(errs, unpinAll(ps))
		delete(b.pins, id)
	}
	b.npins = 0
	// And any pin no container holds any more: one whose removal failed
	// before (unpin's errors are not the plugin's to see).
	if es, err := os.ReadDir(b.pol.PinDir); err == nil {
		var left []string
		for _, e := range es {
			left = append(left, filepath.Join(b.pol.PinDir, e.Name()))
		}
		errs = append(errs, unpinAll(left))
	}
	closeRoots(b.roots)
	b.roots = nil
	return errors.Join(errs...)
}

var versionPrefix = regexp.MustCompile(`^(/v[0-9]+(?:\.[0-9]+)?)(/.*)$`)

// ServeHTTP answers one request of the plugin.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := b.route(w, r)
	if err == nil {
		return
	}
	var rf *refusal
	var pt *passthrough
	switch {
	case errors.As(err, &rf):
		writeError(w, http.StatusForbidden, fmt.Sprintf("docker broker (plugin %s): %s", b.pol.Owner, rf.msg))
	case errors.As(err, &pt):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(pt.status)
		w.Write(pt.body)
	default:
		writeError(w, http.StatusBadGateway, fmt.Sprintf("docker broker (plugin %s): %v", b.pol.Owner, err))
	}
}

// containerOps are the per-container endpoints and their methods.
var containerOps = map[string][]string{
	"json": {http.MethodGet}, "logs": {http.MethodGet},
	"archive": {http.MethodGet, http.MethodHead},
	"start":   {http.MethodPost}, "stop": {http.MethodPost}, "kill": {http.MethodPost},
	"wait": {http.MethodPost}, "pause": {http.MethodPost}, "unpause": {http.MethodPost},
	"attach": {http.MethodPost}, "exec": {http.MethodPost},
}

func (b *Broker) route(w http.ResponseWriter, r *http.Request) error {
	ver, p := "", r.URL.Path
	if m := versionPrefix.FindStringSubmatch(p); m != nil {
		ver, p = m[1], m[2]
	}
	seg := strings.Split(strings.Trim(p, "/"), "/")
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case p == "/_ping" && (get || r.Method == http.MethodHead), p == "/version" && get:
		b.proxy.ServeHTTP(w, r)
		return nil
	case p == "/containers/json" && get:
		return b.list(w, r)
	case p == "/containers/create" && post:
		return b.create(w, r, ver)
	case len(seg) == 2 && seg[0] == "containers" && r.Method == http.MethodDelete:
		id, err := b.own(r.Context(), seg[1])
		if err != nil {
			return err
		}
		if v := r.URL.Query().Get("link"); v != "" && v != "0" && v != "false" {
			return refuse("removing a link is refused")
		}
		r.URL.Path, r.URL.RawPath = ver+"/containers/"+id, ""
		b.proxy.ServeHTTP(w, r)
		b.unpin(id)
		return nil
	case len(seg) == 3 && seg[0] == "containers" && seg[2] == "archive" && r.Method == http.MethodPut:
		// swe never copies in; the engine would extract as root on the
		// host side, into the bind mounts too (device nodes, files owned
		// by root with any mode, in the plugin's own directories).
		return refuse("copying into a container (PUT archive) is refused: the engine extracts it as root, into the plugin's directories too; write files in the workspace or through exec")
	case len(seg) == 3 && seg[0] == "containers" && slices.Contains(containerOps[seg[2]], r.Method):
		id, err := b.own(r.Context(), seg[1])
		if err != nil {
			return err
		}
		op := seg[2]
		if op == "exec" {
			return b.execCreate(w, r, ver, id)
		}
		if op == "start" {
			for k := range r.URL.Query() {
				if k != "detachKeys" {
					return refuse("start with %q refused (no checkpoints)", k)
				}
			}
		}
		r.URL.Path, r.URL.RawPath = ver+"/containers/"+id+"/"+op, ""
		b.proxy.ServeHTTP(w, r)
		return nil
	case len(seg) == 3 && seg[0] == "exec" && (post && (seg[2] == "start" || seg[2] == "resize") || get && seg[2] == "json"):
		b.mu.Lock()
		_, ok := b.execs[seg[1]]
		b.mu.Unlock()
		if !ok {
			return refuse("exec %q was not created through this broker", seg[1])
		}
		b.proxy.ServeHTTP(w, r)
		return nil
	case len(seg) >= 3 && seg[0] == "images" && seg[len(seg)-1] == "json" && get:
		if err := checkImageRef(b.pol, strings.Join(seg[1:len(seg)-1], "/")); err != nil {
			return err
		}
		b.proxy.ServeHTTP(w, r)
		return nil
	case p == "/images/create" && post:
		return b.imageImport(w, r, ver)
	}
	return refuse("%s %s is not allowed: the broker serves only what swe's Docker backend needs (containers of its shape from its own image, their exec, logs, archive, kill and removal, and importing its own image)", r.Method, p)
}

// passthrough is an engine answer handed to the plugin as it is (a 404
// the Docker client recognises as "not found").
type passthrough struct {
	status int
	body   []byte
}

func (p *passthrough) Error() string { return fmt.Sprintf("engine answered %d: %s", p.status, p.body) }

var idRe = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// own resolves id to the full id of a container of this plugin's (made
// by one of its brokers: OwnerLabel), or refuses. Names are refused: the
// engine looks names up before id prefixes, so a name could stand for
// another's container.
func (b *Broker) own(ctx context.Context, id string) (string, error) {
	if !idRe.MatchString(id) {
		return "", refuse("container %q refused: name containers by the id the broker returned (12 to 64 hex digits), not by name", id)
	}
	b.mu.Lock()
	for full := range b.owned {
		if strings.HasPrefix(full, id) {
			b.mu.Unlock()
			return full, nil
		}
	}
	b.mu.Unlock()
	var c struct {
		ID     string `json:"Id"`
		Config struct {
			Labels map[string]string
		}
	}
	status, body, err := b.call(ctx, http.MethodGet, "/containers/"+id+"/json", nil, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", &passthrough{status, body}
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", fmt.Errorf("inspect %s: %w", id, err)
	}
	if c.Config.Labels[OwnerLabel] != b.pol.Owner || !strings.HasPrefix(c.ID, id) {
		return "", refuse("container %.12s is not plugin %s's: only containers made through its Docker broker may be touched", id, b.pol.Owner)
	}
	b.mu.Lock()
	b.owned[c.ID] = true
	b.mu.Unlock()
	return c.ID, nil
}

// list answers GET /containers/json with the plugin's containers only:
// the engine ANDs label filters, so one more is enough.
func (b *Broker) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return refuse("filters: %v", err)
	}
	f.Add("label", OwnerLabel+"="+b.pol.Owner)
	s, err := filters.ToJSON(f)
	if err != nil {
		return err
	}
	q.Set("filters", s)
	r.URL.RawQuery = q.Encode()
	b.proxy.ServeHTTP(w, r)
	return nil
}

// maxBody bounds create and exec bodies (swe's are under 2 KiB).
const maxBody = 1 << 20

func readJSON(r *http.Request) (map[string]any, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBody {
		return nil, refuse("request body over %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, refuse("request body is not a JSON object: %v", err)
	}
	return m, nil
}

// create validates a container create, pins its mount sources, labels it
// as the plugin's and forwards it.
func (b *Broker) create(w http.ResponseWriter, r *http.Request, ver string) error {
	for k, v := range r.URL.Query() {
		if (k != "name" && k != "platform") || strings.Join(v, "") != "" {
			return refuse("create with ?%s= refused: containers are unnamed and of the host's platform", k)
		}
	}
	req, err := readJSON(r)
	if err != nil {
		return err
	}
	req, mounts, err := checkCreate(b.pol, req)
	if err != nil {
		return err
	}
	b.mu.Lock()
	many := len(b.pins) >= gcAfter
	b.mu.Unlock()
	if many {
		b.gc(r.Context())
	}
	b.mu.Lock()
	full := b.npins+len(mounts) > maxPins
	b.mu.Unlock()
	if full {
		return refuse("more than %d bind mounts held for the plugin's containers: remove some first", maxPins)
	}
	var pinned []string
	for i, m := range mounts {
		src := m["Source"].(string)
		p, err := b.pin(src)
		if err != nil {
			unpinAll(pinned)
			return refuse("HostConfig.Mounts[%d].Source %q refused: %v", i, src, err)
		}
		pinned = append(pinned, p)
		m["Source"] = p
	}
	labels, _ := req["Labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[OwnerLabel] = b.pol.Owner
	req["Labels"] = labels
	body, err := json.Marshal(req)
	if err != nil {
		unpinAll(pinned)
		return err
	}
	status, resp, err := b.call(r.Context(), http.MethodPost, ver+"/containers/create?"+r.URL.RawQuery, body, r.Header)
	if err != nil {
		unpinAll(pinned)
		return err
	}
	var c struct {
		ID string `json:"Id"`
	}
	if status == http.StatusCreated && json.Unmarshal(resp, &c) == nil && c.ID != "" {
		b.mu.Lock()
		b.owned[c.ID] = true
		if len(pinned) > 0 {
			b.pins[c.ID] = pinned
			b.npins += len(pinned)
		}
		b.mu.Unlock()
	} else {
		unpinAll(pinned)
	}
	return &passthrough{status, resp}
}

// execCreate validates an exec and records its id.
func (b *Broker) execCreate(w http.ResponseWriter, r *http.Request, ver, id string) error {
	req, err := readJSON(r)
	if err != nil {
		return err
	}
	if req, err = checkExec(req); err != nil {
		return err
	}
	body, _ := json.Marshal(req)
	status, resp, err := b.call(r.Context(), http.MethodPost, ver+"/containers/"+id+"/exec", body, r.Header)
	if err != nil {
		return err
	}
	var e struct {
		ID string `json:"Id"`
	}
	if status == http.StatusCreated && json.Unmarshal(resp, &e) == nil && e.ID != "" {
		b.mu.Lock()
		b.execs[e.ID] = id
		b.mu.Unlock()
	}
	return &passthrough{status, resp}
}

// imageImport allows `docker import -` of a tarball into a new tag of the
// plugin's repository, and nothing else of POST /images/create (pulls,
// imports from a URL).
func (b *Broker) imageImport(w http.ResponseWriter, r *http.Request, ver string) error {
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains([]string{"fromSrc", "repo", "tag", "message", "changes", "platform"}, k) {
			return refuse("image create with ?%s= refused: only importing a tarball from the request (fromSrc=-) into the plugin's own repository", k)
		}
	}
	if q.Get("fromSrc") != "-" {
		return refuse("image create refused: only fromSrc=- (the tarball in the request); no pulls, no imports from URLs")
	}
	ref := q.Get("repo")
	if t := q.Get("tag"); t != "" {
		ref += ":" + t
	}
	if err := checkImageRef(b.pol, ref); err != nil {
		return err
	}
	if !strings.Contains(ref, ":") {
		return refuse("import into %q refused: name a tag (the broker never replaces an image)", ref)
	}
	for _, c := range q["changes"] {
		if err := checkChange(c); err != nil {
			return err
		}
	}
	status, _, err := b.call(r.Context(), http.MethodGet, "/images/"+url.PathEscape(ref)+"/json", nil, nil)
	if err != nil {
		return err
	}
	if status != http.StatusNotFound {
		return refuse("image %s exists: the broker never replaces an image (new content gets a new tag)", ref)
	}
	b.proxy.ServeHTTP(w, r)
	return nil
}

// call makes one request of the broker's own to the engine and reads the
// whole answer.
func (b *Broker) call(ctx context.Context, method, path string, body []byte, h http.Header) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ua := h.Get("User-Agent"); ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := b.engine.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the Docker engine: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, data, err
}

// gc releases the pins of containers the engine no longer has.
func (b *Broker) gc(ctx context.Context) {
	b.mu.Lock()
	ids := make([]string, 0, len(b.pins))
	for id := range b.pins {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	for _, id := range ids {
		if status, _, err := b.call(ctx, http.MethodGet, "/containers/"+id+"/json", nil, nil); err == nil && status == http.StatusNotFound {
			b.unpin(id)
		}
	}
}

// unpin releases a container's pinned sources once it is gone. They stay
// for its whole life: the engine resolves a source again at every start
// and at every archive (docker cp) call.
func (b *Broker) unpin(id string) {
	b.mu.Lock()
	ps := b.pins[id]
	delete(b.pins, id)
	b.npins -= len(ps)
	b.mu.Unlock()
	_ = unpinAll(ps)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// Server is a Broker served on a unix socket.
type Server struct {
	*Broker
	socket string
	srv    *http.Server
}

// Listen serves b on a new unix socket at path, owned by uid:gid with
// mode 0600 (the plugin's identity; its directory should let no one else
// through).
func Listen(b *Broker, path string, uid, gid int) (*Server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	if err := os.Chmod(path, 0o600); err == nil {
		err = os.Chown(path, uid, gid)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("docker broker: socket %s: %w", path, err)
	}
	s := &Server{Broker: b, socket: path, srv: &http.Server{Handler: b, ReadHeaderTimeout: 30 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Socket is the path the broker listens on.
func (s *Server) Socket() string { return s.socket }

// Close stops serving, removes the socket and releases the broker.
func (s *Server) Close() error {
	err := s.srv.Close()
	os.Remove(s.socket)
	return errors.Join(err, s.Broker.Close())
}

// pinName is a fresh name in the pin directory.
func (b *Broker) pinName() string {
	return filepath.Join(b.pol.PinDir, fmt.Sprintf("m%d-%s", time.Now().UnixNano(), randomHex(4)))
}
