package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

// Hostile clients (issue #18). Each test failed on commit 6e6bf5c
// (checked in a worktree of that commit): how is said at each.

// helperEnv makes this test binary a stream server (TestHelperStreamServer)
// so that a test can measure the server's memory apart from its own.
const helperEnv = "ENVGYM_SERVE_TEST_HELPER"

// TestHelperStreamServer is not a test: run by TestStreamFloodBoundedMemory
// as a child process, it serves the stream transport (token "tok", a 2 s
// AuthTimeout), prints its address and serves until its stdin closes.
func TestHelperStreamServer(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	s := New(textRegistry(t), Config{Token: "tok", AuthTimeout: 2 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeStream(ln)
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	s.Close()
	os.Exit(0)
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// On 6e6bf5c: every connection got 64 KiB buffers and could buffer 4 MiB
// before auth, and nothing ever closed an idle one (+225 MB for 30 lines,
// held forever).
func TestStreamFloodBoundedMemory(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStreamServer$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper server: %v", err)
	}
	addr := strings.TrimSpace(line)
	pid := cmd.Process.Pid
	before := rssKB(t, pid)

	const idle, floods = 200, 30
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	big := bytes.Repeat([]byte("x"), 4<<20) // no newline: one 4 MiB line
	var wg sync.WaitGroup
	for i := 0; i < floods; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(big) // fails once the server hangs up: expected
		}()
	}
	// The peak: sampled while the lines arrive.
	peak := before
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-time.After(20 * time.Millisecond):
		}
		peak = max(peak, rssKB(t, pid))
	}
	if grew := peak - before; grew > 50<<10 {
		t.Errorf("server RSS grew %d MB with %d idle and %d pre-auth 4 MiB lines, want < 50 MB", grew>>10, idle, floods)
	}
	t.Logf("server RSS %d MB before, peak %d MB (+%d MB)", before>>10, peak>>10, (peak-before)>>10)
	// Every connection is closed by the server once its first line is too
	// long or AuthTimeout (2 s) has passed without one.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
			t.Fatalf("connection %d (%s) not closed by the server: %v", i, map[bool]string{true: "idle", false: "flood"}[i < idle], err)
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// On 6e6bf5c X-Client-ID (and the stream's "client") named the client:
// one client made 300 sessions past its limit of 64, and listed and
// closed another client's sessions by sending its name.
func TestSpoofedClientIDsBypassNothing(t *testing.T) {
	s := New(textRegistry(t), Config{Tokens: map[string]string{"alice-token-0123456789": "alice", "bob-token-0123456789ab": "bob"}, MaxEnvsPerClient: 2})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	do := func(tok, id, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("X-Client-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	var aliceIDs []string
	for i := 0; i < 2; i++ {
		code, body := do("alice-token-0123456789", "", "POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"})
		if code != 201 {
			t.Fatalf("alice make %d: %d %v", i, code, body)
		}
		aliceIDs = append(aliceIDs, body["session_id"].(string))
	}
	// The limit holds whatever name alice sends.
	for _, spoof := range []string{"someone-else", "bob", "alice-2"} {
		if code, body := do("alice-token-0123456789", spoof, "POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"}); code != 429 {
			t.Errorf("alice as X-Client-ID %q: %d %v, want 429 (her limit is 2)", spoof, code, body)
		}
	}
	// Bob, even claiming to be alice, neither sees nor touches her sessions.
	for _, spoof := range []string{"", "alice"} {
		code, body := do("bob-token-0123456789ab", spoof, "GET", "/v1/envs", nil)
		if code != 200 {
			t.Fatalf("bob lists: %d %v", code, body)
		}
		raw, _ := json.Marshal(body)
		for _, id := range aliceIDs {
			if strings.Contains(string(raw), id) {
				t.Errorf("bob (X-Client-ID %q) lists alice's session %s", spoof, id)
			}
		}
	}
	for _, id := range aliceIDs {
		for _, op := range []struct{ method, path string }{{"POST", "/v1/envs/" + id + "/reset"}, {"POST", "/v1/envs/" + id + "/step"}, {"DELETE", "/v1/envs/" + id}} {
			var body any
			if op.method == "POST" {
				body = map[string]any{"action": "look"}
				if strings.HasSuffix(op.path, "reset") {
					body = map[string]any{}
				}
			}
			if code, resp := do("bob-token-0123456789ab", "alice", op.method, op.path, body); code != 404 {
				t.Errorf("bob %s %s: %d %v, want 404", op.method, op.path, code, resp)
			}
		}
	}
	if s.Sessions() != 2 {
		t.Fatalf("%d sessions, want alice's 2", s.Sessions())
	}
	// The stream's "client" field is ignored the same way.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.ServeStream(ln)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, `{"op":"auth","token":"alice-token-0123456789","client":"bob"}`+"\n")
	r.ReadString('\n')
	fmt.Fprintf(c, `{"op":"make","env_id":"text/maze-v0"}`+"\n")
	if resp, _ := r.ReadString('\n'); !strings.Contains(resp, `"code":429`) {
		t.Fatalf("stream make as alice claiming to be bob: %s, want 429", resp)
	}
}

// On 6e6bf5c a tokenless loopback server created an env for a browser's
// cross-site text/plain POST (no preflight) and answered any Host (DNS
// rebinding).
func TestTokenlessServerRefusesBrowserRequests(t *testing.T) {
	s := New(textRegistry(t), Config{})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	host := strings.TrimPrefix(ts.URL, "http://")
	body := `{"env_id":"text/maze-v0"}`
	for _, c := range []struct {
		name, host, origin, ctype string
		want                      int
	}{
		{"cross-site text/plain form", host, "http://evil.example", "text/plain", 403},
		{"text/plain, no Origin", host, "", "text/plain", 415},
		{"form encoding", host, "", "application/x-www-form-urlencoded", 415},
		{"JSON from another origin", host, "http://evil.example", "application/json", 403},
		{"JSON from another local port", host, "http://127.0.0.1:1", "application/json", 403},
		{"DNS rebinding (Host evil.example)", "evil.example:" + strings.Split(host, ":")[1], "", "application/json", 403},
	} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/envs", strings.NewReader(body))
		req.Host = c.host
		req.Header.Set("Content-Type", c.ctype)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, msg, c.want)
		}
	}
	if n := s.Sessions(); n != 0 {
		t.Fatalf("%d sessions made by refused requests", n)
	}
	// What a trainer sends still works, from its own origin too.
	for _, origin := range []string{"", ts.URL} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/envs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("JSON POST (Origin %q): %d, want 201", origin, resp.StatusCode)
		}
	}
}

// On 6e6bf5c options were handed to the env as given: a served swe env
// read a host JSONL named by the client and copied the host directory it
// named into the agent's workspace.
func TestServedOptionsNamingHostPathsRefused(t *testing.T) {
	allowed := t.TempDir()
	os.Symlink("/etc", filepath.Join(allowed, "etc-link"))
	for _, c := range []struct {
		name  string
		allow []string
		opts  map[string]any
		field string // "" when the option passes the check
	}{
		{"absolute path", nil, map[string]any{"tasks": "/etc/passwd"}, "options.tasks"},
		{"relative path under a path key", nil, map[string]any{"tasks": "tasks.jsonl"}, "options.tasks"},
		{"dir key", nil, map[string]any{"cache_dir": "cache"}, "options.cache_dir"},
		{"parent dir value", nil, map[string]any{"n": "../../etc/shadow"}, "options.n"},
		{"home", nil, map[string]any{"x": "~/.ssh/id_rsa"}, "options.x"},
		{"file URL", nil, map[string]any{"url": "file:///etc/passwd"}, "options.url"},
		{"nested", nil, map[string]any{"docker": map[string]any{"mounts": []any{"/"}}}, "options.docker.mounts[0]"},
		{"outside the allowlist", []string{allowed}, map[string]any{"tasks": "/etc/passwd"}, "options.tasks"},
		{"through a link out of the allowlist", []string{allowed}, map[string]any{"tasks": filepath.Join(allowed, "etc-link", "passwd")}, "options.tasks"},
		{"relative with an allowlist", []string{allowed}, map[string]any{"tasks": "tasks.jsonl"}, "options.tasks"},
		{"inside the allowlist", []string{allowed}, map[string]any{"tasks": filepath.Join(allowed, "tasks.jsonl")}, ""},
		{"not a path", nil, map[string]any{"sandbox": "docker", "n": 3, "goal": "reach the exit"}, ""},
	} {
		s := New(textRegistry(t), Config{AllowPaths: c.allow})
		ts := httptest.NewServer(s.Handler())
		code, body := httpClient{t, ts.URL, ""}.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0", "options": c.opts})
		if c.field != "" && (code != 403 || body["field"] != c.field) {
			t.Errorf("%s: make %v: %d %v, want 403 naming %s", c.name, c.opts, code, body, c.field)
		}
		if c.field == "" && code == 403 {
			t.Errorf("%s: make %v refused: %v", c.name, c.opts, body)
		}
		// Reset options go through the same check.
		_, made := httpClient{t, ts.URL, ""}.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"})
		id, _ := made["session_id"].(string)
		code, body = httpClient{t, ts.URL, ""}.do("POST", "/v1/envs/"+id+"/reset", map[string]any{"options": c.opts})
		if c.field != "" && (code != 403 || body["field"] != c.field) {
			t.Errorf("%s: reset %v: %d %v, want 403 naming %s", c.name, c.opts, code, body, c.field)
		}
		ts.Close()
		s.Close()
	}
}

// slowEnv takes 600 ms per step, unless its context ends first.
type slowEnv struct{ spec gym.Spec }

func (e *slowEnv) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	return gym.Observation{Text: "ready"}, nil
}

func (e *slowEnv) Step(ctx context.Context, _ string) (gym.StepResult, error) {
	select {
	case <-time.After(600 * time.Millisecond):
		return gym.StepResult{Observation: gym.Observation{Text: "done"}, Reward: 1, Terminated: true}, nil
	case <-ctx.Done():
		return gym.StepResult{}, ctx.Err()
	}
}

func (e *slowEnv) Spec() gym.Spec { return e.spec }
func (e *slowEnv) Close() error   { return nil }

// A body sent byte by byte holds a connection only for BodyTimeout; a step
// that outlasts it (the body long read) is not cut. (net/http's
// ReadTimeout would cancel such a step's context.)
func TestHTTPBodyDeadlineCutsTrickleNotLongSteps(t *testing.T) {
	spec := gym.Spec{ID: "test/slow-v0", Version: "1"}
	reg := gym.NewRegistry()
	if err := reg.Register(spec, func(context.Context, map[string]any) (gym.Env, error) { return &slowEnv{spec: spec}, nil }); err != nil {
		t.Fatal(err)
	}
	s := New(reg, Config{BodyTimeout: 200 * time.Millisecond})
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer()
	go hs.Serve(s.LimitListener(ln))
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	c := httpClient{t, base, ""}
	code, made := c.do("POST", "/v1/envs", map[string]any{"env_id": spec.ID})
	if code != 201 {
		t.Fatalf("make: %d %v", code, made)
	}
	id := made["session_id"].(string)
	c.do("POST", "/v1/envs/"+id+"/reset", map[string]any{})
	if code, body := c.do("POST", "/v1/envs/"+id+"/step", map[string]any{"action": "wait"}); code != 200 || body["reward"] != 1.0 {
		t.Fatalf("a 600 ms step behind a 200 ms body deadline: %d %v, want 200 and its result", code, body)
	}

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/envs HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", ln.Addr())
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(conn)
	if err != nil && !isReset(err) {
		t.Fatalf("a trickled body still holds its connection: %v", err)
	}
	if s.Sessions() != 1 {
		t.Fatalf("%d sessions, want the slow env's 1 (response to the trickle: %q)", s.Sessions(), resp)
	}
}
