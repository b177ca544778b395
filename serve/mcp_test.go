package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/plugins"
)

func TestDeriveActionToolsFromGrammars(t *testing.T) {
	web := deriveActionTools(action.Grammar)
	byName := map[string]actionTool{}
	for _, tl := range web {
		byName[tl.name] = tl
	}
	for _, name := range []string{"click", "fill", "select", "check", "hover", "press", "scroll", "goto", "go_back", "noop", "answer"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("web grammar: no %s tool (have %v)", name, byName)
		}
	}
	if p := byName["click"].params; len(p) != 1 || p[0].name != "id" || p[0].kind != paramInt || !strings.Contains(p[0].desc, "[brackets]") {
		t.Errorf("click params %+v: want one integer id described by the grammar's note", p)
	}
	if p := byName["scroll"].params; len(p) != 1 || p[0].kind != paramEnum || fmt.Sprint(p[0].enum) != "[down up]" {
		t.Errorf("scroll params %+v: want enum up|down", p)
	}
	search := deriveActionTools(`One action per step:
  search("query")       top-k passages by BM25: doc ids, titles and snippets
  open(doc_id)          the full text of a passage
  judge(useful)         judge the last result (search results or opened passage):
  judge(not_useful)       useful if it contains a passage supporting the answer
  answer("text")        give the final answer; ends the episode`)
	if len(search) != 4 || search[2].name != "judge" || search[2].params[0].kind != paramEnum ||
		fmt.Sprint(search[2].params[0].enum) != "[not_useful useful]" || !strings.Contains(search[0].gloss, "BM25") {
		t.Errorf("search tools %+v", search)
	}
	swe := deriveActionTools(`One Go-call-like tool per step: [bash("cmd") view("path") view("path", start, end) insert("path", line, "text") search("pattern") search("pattern", "path") run_tests() submit()]`)
	tools := map[string]actionTool{}
	for _, tl := range swe {
		tools[tl.name] = tl
	}
	if v := tools["view"]; len(v.params) != 3 || v.params[1].kind != paramInt || !v.params[1].optional || v.params[0].optional {
		t.Errorf("view %+v: want path and optional integer start, end", v.params)
	}
	conflict := deriveActionTools(`scroll(up|down) | drag(from_id, to_id) | scroll(dx, dy)
id is the number in [brackets]`)
	if len(conflict) != 2 || len(conflict[0].params) != 1 || conflict[0].params[0].kind != paramEnum ||
		!strings.Contains(conflict[0].description("x"), "scroll(dx, dy), use the step tool") || conflict[1].params[1].kind != paramInt {
		t.Errorf("forms that do not line up: %+v", conflict)
	}
	if len(deriveActionTools(`One command per step: "go north|east" (or just "north", "n", ...), "look".`)) != 0 {
		t.Error("a grammar without call forms yields tools")
	}
	for _, c := range []struct {
		tool actionTool
		args map[string]any
		want string
	}{
		{byName["fill"], map[string]any{"id": 3.0, "text": "a \"b\" <c>\n"}, `fill(3, "a \"b\" <c>\n")`},
		{byName["scroll"], map[string]any{"value": "down"}, `scroll(down)`},
		{byName["go_back"], map[string]any{}, `go_back()`},
		{tools["view"], map[string]any{"path": "x.go"}, `view("x.go")`},
		{tools["view"], map[string]any{"path": "x.go", "start": 2.0, "end": 9.0}, `view("x.go", 2, 9)`},
	} {
		got, err := c.tool.render(c.args)
		if err != nil || got != c.want {
			t.Errorf("render %s %v = %q, %v; want %q", c.tool.name, c.args, got, err, c.want)
		}
	}
	if _, err := tools["view"].render(map[string]any{"path": "x.go", "end": 9.0}); err == nil || !strings.Contains(err.Error(), `"start"`) {
		t.Errorf("view with end but no start: %v", err)
	}
}

// mcpFixture is a gym serve (HTTP, with a token and recording) over a
// real plugin host with the web plugin, shared by the tests of this file.
type mcpFixture struct {
	host   *plugins.Host
	reg    *gym.Registry
	srv    *Server
	ts     *httptest.Server
	gym    string // a gym binary built for this test run
	dir    string // its plugin dir
	record string

	oracleMu sync.Mutex
	oracle   map[int64][]string // solutions by seed, played once
}

var (
	mcpFixtureOnce sync.Once
	mcpFix         *mcpFixture
	mcpFixErr      error
)

const mcpToken = "mcp-test-token-0123456789"

func webFixture(t *testing.T) *mcpFixture {
	t.Helper()
	mcpFixtureOnce.Do(func() { mcpFix, mcpFixErr = newMCPFixture() })
	if mcpFixErr != nil {
		t.Fatalf("fixture (needs Chromium and Go, as set up by scripts/setup.sh): %v", mcpFixErr)
	}
	return mcpFix
}

func newMCPFixture() (*mcpFixture, error) {
	tmp, err := os.MkdirTemp("", "envgym-mcp-test-")
	if err != nil {
		return nil, err
	}
	bin, dir := filepath.Join(tmp, "bin"), filepath.Join(tmp, "plugins")
	build := exec.Command("go", "build", "-tags", "notorch", "-o", bin+string(filepath.Separator),
		"github.com/envgym/envgym/cmd/gym", "github.com/envgym/envgym/envs/web/cmd/gym-plugin-web")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	if _, err := plugins.Install(context.Background(), filepath.Join(bin, "gym-plugin-web"), dir,
		plugins.InstallOptions{Sandbox: plugins.Sandbox{MemoryMB: 4096, MaxPids: 4096}}); err != nil {
		return nil, err
	}
	f := &mcpFixture{host: plugins.New(plugins.Config{Dir: dir}), reg: gym.NewRegistry(), gym: filepath.Join(bin, "gym"), dir: dir}
	if err := f.host.Register(f.reg); err != nil {
		return nil, err
	}
	f.record = filepath.Join(tmp, "served.jsonl")
	w, err := trajectory.Create(f.record)
	if err != nil {
		return nil, err
	}
	f.srv = New(f.reg, Config{Token: mcpToken, Record: w, IdleTimeout: time.Minute})
	f.ts = httptest.NewServer(f.srv.Handler())
	return f, nil
}

// TestMain lets this test binary start sandboxed plugins (the host
// re-executes it as the sandbox's init) and closes the shared fixture:
// its plugin processes must not outlive the tests.
func TestMain(m *testing.M) {
	plugins.SandboxInitMain()
	code := m.Run()
	if mcpFix != nil {
		// The server first: closing its MCP sessions ends their streams,
		// which the HTTP server's Close waits for.
		mcpFix.srv.Close()
		mcpFix.ts.Close()
		mcpFix.host.Close()
	}
	os.Exit(code)
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connectHTTP(t *testing.T, f *mcpFixture, envID string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "envgym-test", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: f.ts.URL + "/mcp/" + envID, HTTPClient: &http.Client{Transport: bearer{mcpToken}}}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return cs
}

// callAction turns an action string such as fill(3, "x") into a call of
// the tool of that name, naming the arguments in the schema's order.
func callAction(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tools map[string]*mcp.Tool, a string) *mcp.CallToolResult {
	t.Helper()
	m := regexp.MustCompile(`^(\w+)\((.*)\)$`).FindStringSubmatch(strings.TrimSpace(a))
	if m == nil || tools[m[1]] == nil {
		t.Fatalf("oracle action %q has no tool", a)
	}
	var schema struct {
		Required []string `json:"required"`
	}
	b, _ := json.Marshal(tools[m[1]].InputSchema)
	json.Unmarshal(b, &schema)
	args := map[string]any{}
	for i, raw := range splitArgs(m[2]) {
		var v any
		if n, err := strconv.Atoi(raw); err == nil {
			v = n
		} else if err := json.Unmarshal([]byte(raw), &v); err != nil {
			v = raw
		}
		args[schema.Required[i]] = v
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: m[1], Arguments: args})
	if err != nil {
		t.Fatalf("call %s %v: %v", m[1], args, err)
	}
	return res
}

func structured(t *testing.T, res *mcp.CallToolResult) stepOutput {
	t.Helper()
	var out stepOutput
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || out.Status == "" {
		t.Fatalf("structured content %s: %v (content %v)", b, err, textOf(res))
	}
	return out
}

func textOf(res *mcp.CallToolResult) string {
	var s []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s = append(s, tc.Text)
		}
	}
	return strings.Join(s, "\n")
}

// oracleActions plays web/shop-v0 with its oracle in process (through
// the same plugin) and returns the actions that solve seed.
func oracleActions(t *testing.T, f *mcpFixture, seed int64) []string {
	t.Helper()
	f.oracleMu.Lock()
	defer f.oracleMu.Unlock()
	if a, ok := f.oracle[seed]; ok {
		return a
	}
	if f.oracle == nil {
		f.oracle = map[int64][]string{}
	}
	ctx := context.Background()
	env, err := f.reg.Make(ctx, "web/shop-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	oracle, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		t.Fatal("web/shop-v0 has no oracle")
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: seed}); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for range 40 {
		a, err := oracle.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
		r, err := env.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done() {
			if r.Reward != 1 {
				t.Fatalf("in-process oracle: reward %v", r.Reward)
			}
			f.oracle[seed] = actions
			return actions
		}
	}
	t.Fatal("the oracle did not finish in 40 steps")
	return nil
}

// playShop plays the oracle's actions through the derived tools and
// checks the episode ends with reward 1, then an invalid action, then a
// crash of the plugin.
func playShop(t *testing.T, f *mcpFixture, cs *mcp.ClientSession, pid func() int) {
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string]*mcp.Tool{}
	for _, tl := range lt.Tools {
		tools[tl.Name] = tl
	}
	for _, name := range []string{"reset", "step", "click", "fill", "select", "press", "scroll", "answer"} {
		if tools[name] == nil || tools[name].Description == "" || tools[name].OutputSchema == nil {
			t.Fatalf("tool %s missing or undocumented: %+v", name, tools[name])
		}
	}
	const seed = 3
	actions := oracleActions(t, f, seed)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{"seed": seed, "options": map[string]any{"screenshot": true}}})
	if err != nil || res.IsError {
		t.Fatalf("reset: %v %v", err, textOf(res))
	}
	if out := structured(t, res); out.Status != "OK" || !strings.Contains(out.Observation, "Goal") || len(out.ValidActions) == 0 {
		t.Fatalf("reset result %+v", out)
	}
	var img *mcp.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(*mcp.ImageContent); ok {
			img = ic
		}
	}
	if img == nil || img.MIMEType != "image/png" || !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
		t.Fatalf("reset with screenshot: no PNG image block in %d content blocks", len(res.Content))
	}
	var last stepOutput
	for i, a := range actions {
		res := callAction(t, ctx, cs, tools, a)
		last = structured(t, res)
		if last.Status != "OK" || res.IsError {
			t.Fatalf("step %d %q: %+v", i, a, last)
		}
		if last.Action != a {
			t.Fatalf("tool call was sent as %q, the oracle said %q", last.Action, a)
		}
	}
	if last.Reward != 1 || !last.Terminated || last.Info["success"] != true {
		t.Fatalf("final step: %+v", last)
	}

	// Same seed again: an invalid action is a tool error the agent can read.
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{"seed": seed}}); err != nil || res.IsError {
		t.Fatalf("reset: %v", err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "click", Arguments: map[string]any{"id": 99999}})
	if err != nil {
		t.Fatal(err)
	}
	if out := structured(t, res); out.Status != "INVALID_ACTION" || !res.IsError || !strings.Contains(textOf(res), "99999") {
		t.Fatalf("click(99999): %+v %q", out, textOf(res))
	}

	// Kill the plugin: the next step says CRASHED, truncated.
	if err := syscall.Kill(pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "step", Arguments: map[string]any{"action": "scroll(down)"}})
	if err != nil {
		t.Fatal(err)
	}
	if out := structured(t, res); out.Status != "CRASHED" || !out.Truncated || !res.IsError {
		t.Fatalf("after killing the plugin: %+v", out)
	}
	// And the next reset starts over (the host restarts the plugin).
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{"seed": 1}}); err != nil || res.IsError {
		t.Fatalf("reset after crash: %v %v", err, textOf(res))
	}
}

func TestMCPStreamableHTTPPlaysWebShop(t *testing.T) {
	f := webFixture(t)
	before := f.srv.Sessions()
	cs := connectHTTP(t, f, "web/shop-v0")
	playShop(t, f, cs, func() int {
		p, _ := f.host.Plugin("web/shop-v0")
		return p.PID()
	})
	if f.srv.Sessions() != before+1 {
		t.Errorf("sessions while connected: %d, want %d", f.srv.Sessions(), before+1)
	}
	cs.Close()
	waitMCPSessions(t, f.srv, before)
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(f.record))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		found = found || (m.EnvID == "web/shop-v0" && m.Seed == 3 && m.Return == 1 && m.Success && strings.HasPrefix(m.Policy, "served:"))
	}
	if !found {
		t.Errorf("no recorded manifest of the served episode in %+v", ms)
	}
}

func waitMCPSessions(t *testing.T, s *Server, want int) {
	t.Helper()
	for i := 0; i < 200 && (s.Sessions() != want || s.metrics.mcpSessions.Load() != 0); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if s.Sessions() != want || s.metrics.mcpSessions.Load() != 0 {
		t.Fatalf("after the client closed: %d env sessions (want %d), %d MCP sessions (want 0)", s.Sessions(), want, s.metrics.mcpSessions.Load())
	}
}

func TestMCPStdioPlaysWebShop(t *testing.T) {
	f := webFixture(t)
	record := t.TempDir()
	cmd := exec.Command(f.gym, "--plugin-dir", f.dir, "mcp", "web/shop-v0", "--record", record)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "envgym-test", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("gym mcp: %v\n%s", err, stderr.String())
	}
	defer func() {
		if t.Failed() {
			cmd.Process.Kill()
			t.Logf("gym mcp stderr:\n%s", stderr.String())
		}
	}()
	playShop(t, f, cs, func() int { return childPID(t, cmd.Process.Pid, "gym-plugin-web") })
	if err := cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		t.Errorf("gym mcp still running after the client closed: %v", cmd.ProcessState)
	}
	// --record: the solved episode and the crashed one, with manifests.
	files, _ := filepath.Glob(filepath.Join(record, "*.manifest.jsonl"))
	if len(files) != 1 {
		t.Fatalf("--record wrote %v", files)
	}
	ms, err := trajectory.ReadManifests(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var solved, crashed bool
	for _, m := range ms {
		solved = solved || (m.Return == 1 && m.Success && m.Seed == 3)
		crashed = crashed || (m.FinalStatus == gym.StatusCrashed && m.Truncated)
	}
	if !solved || !crashed {
		t.Errorf("recorded manifests %+v: want the solved and the crashed episode", ms)
	}
}

// childPID finds the descendant of parent running program name (the
// plugin may run under a sandbox helper).
func childPID(t *testing.T, parent int, name string) int {
	t.Helper()
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	queue := []int{parent}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			// Plugins are executed through /proc/self/fd (their comm is a
			// number): match the program path of the command line.
			argv, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c), "cmdline"))
			if arg0, _, _ := strings.Cut(string(argv), "\x00"); filepath.Base(arg0) == name {
				return c
			}
			queue = append(queue, c)
		}
	}
	t.Fatalf("no %s process under %d", name, parent)
	return 0
}

// rpc posts one raw JSON-RPC body to the MCP endpoint and returns the
// status and the JSON-RPC response (from JSON or the first SSE event).
func rpc(t *testing.T, url, session, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+mcpToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				json.Unmarshal([]byte(d), &out)
				break
			}
		}
	}
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

func TestMCPBadInputGetsProtocolErrors(t *testing.T) {
	f := webFixture(t)
	before := f.srv.Sessions()
	url := f.ts.URL + "/mcp/web/shop-v0"

	// Wrong or no token, unknown env id: HTTP errors before any session.
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}
	if code, body := rpc(t, f.ts.URL+"/mcp/web/shopp-v0", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`); code != 404 || !strings.Contains(fmt.Sprint(body), "web/shop-v0") {
		t.Fatalf("unknown env id: %d %v", code, body)
	}
	// Malformed JSON-RPC: a parse error, no session.
	code, body := rpc(t, url, "", `{"jsonrpc":"2.0","id":1,"method":`)
	t.Logf("malformed: %d %v", code, body)
	if code != 400 {
		t.Fatalf("malformed JSON: %d %v", code, body)
	}

	cs := connectHTTP(t, f, "web/shop-v0")
	defer cs.Close()
	ctx := context.Background()
	session := cs.ID()
	call := func(name string, args any) (*mcp.CallToolResult, error) {
		return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	}
	// Unknown tool: a JSON-RPC error (invalid params), the session lives.
	if _, err := call("fly", map[string]any{}); err == nil || !strings.Contains(err.Error(), `unknown tool "fly"`) {
		t.Fatalf("unknown tool: %v", err)
	}
	// Step before reset, wrong argument types, extra arguments, an
	// unknown task: tool errors that say what to do.
	for _, c := range []struct {
		name string
		args any
		want string
	}{
		{"click", map[string]any{"id": 1}, "call reset first"},
		{"reset", map[string]any{"seed": "three"}, "seed"},
		{"reset", map[string]any{"task": "no-such-task"}, "task"},
		{"reset", map[string]any{"sed": 3}, "sed"},
	} {
		res, err := call(c.name, c.args)
		if err == nil {
			t.Logf("%s %v → %q", c.name, c.args, textOf(res))
		}
		if err != nil || !res.IsError || !strings.Contains(textOf(res), c.want) {
			t.Errorf("%s %v: %v, result %q: want a tool error mentioning %q", c.name, c.args, err, textOf(res), c.want)
		}
	}
	if f.srv.Sessions() != before {
		t.Errorf("failed resets left %d env sessions", f.srv.Sessions()-before)
	}
	if res, err := call("reset", map[string]any{"seed": 2}); err != nil || res.IsError {
		t.Fatalf("reset: %v %v", err, textOf(res))
	}
	for _, c := range []struct {
		name string
		args any
		want string
	}{
		{"click", map[string]any{"id": "seven"}, "id"},
		{"fill", map[string]any{"id": 1}, "text"},
		{"scroll", map[string]any{"value": "sideways"}, "sideways"},
	} {
		res, err := call(c.name, c.args)
		if err == nil {
			t.Logf("%s %v → %q", c.name, c.args, textOf(res))
		}
		if err != nil || !res.IsError || !strings.Contains(textOf(res), c.want) {
			t.Errorf("%s %v: %v, result %q: want a tool error mentioning %q", c.name, c.args, err, textOf(res), c.want)
		}
	}
	// Raw JSON-RPC on the live session: a request that is not JSON-RPC,
	// and an oversized message.
	if code, body := rpc(t, url, session, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"step","arguments":{"action":5}}}`); code != 200 || !strings.Contains(fmt.Sprint(body), "isError:true") {
		t.Errorf("action of the wrong type: %d %v", code, body)
	}
	big := `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"step","arguments":{"action":"` + strings.Repeat("a", MaxRequestBytes) + `"}}}`
	if code, _ := rpc(t, url, session, big); code != 413 {
		t.Errorf("oversized message: %d, want 413", code)
	}
	// The session is alive after all of it.
	res, err := call("step", map[string]any{"action": "scroll(down)"})
	if err != nil || structured(t, res).Status != "OK" {
		t.Fatalf("step after the bad input: %v %v", err, textOf(res))
	}
	if f.srv.Sessions() != before+1 {
		t.Errorf("%d env sessions, want %d", f.srv.Sessions(), before+1)
	}
	cs.Close()
	waitMCPSessions(t, f.srv, before)
}

// TestMCPTypeScriptSDKClient plays the web shop from Node with the
// official MCP TypeScript SDK (installed by scripts/setup.sh into
// testdata/mcpjs), over streamable HTTP and over stdio (`gym mcp`).
func TestMCPTypeScriptSDKClient(t *testing.T) {
	f := webFixture(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (scripts/setup.sh installs nodejs and npm): %v", err)
	}
	if _, err := os.Stat("testdata/mcpjs/node_modules/@modelcontextprotocol/sdk/package.json"); err != nil {
		t.Fatalf("the MCP TypeScript SDK is not installed (scripts/setup.sh runs npm ci in serve/testdata/mcpjs): %v", err)
	}
	const seed = 3
	actions, _ := json.Marshal(oracleActions(t, f, seed))
	for _, mode := range []string{"http", "stdio"} {
		t.Run(mode, func(t *testing.T) {
			before := f.srv.Sessions()
			a1, a2 := f.ts.URL+"/mcp/web/shop-v0", mcpToken
			if mode == "stdio" {
				a1, a2 = f.gym, f.dir
			}
			cmd := exec.Command(node, "testdata/mcpjs/episode.mjs", mode, a1, a2, string(actions), strconv.Itoa(seed))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill() // a failed check must not leave node (and its gym) behind
			var summary map[string]any
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var msg map[string]any
				if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
					t.Fatalf("node printed %q", sc.Text())
				}
				switch {
				case msg["ready_to_crash"] == true:
					pid := 0
					if mode == "stdio" {
						pid = childPID(t, int(msg["pid"].(float64)), "gym-plugin-web")
					} else {
						p, _ := f.host.Plugin("web/shop-v0")
						pid = p.PID()
					}
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					io.WriteString(stdin, "killed\n")
				case msg["ok"] == true:
					summary = msg
				}
			}
			if err := cmd.Wait(); err != nil || summary == nil {
				t.Fatalf("node: %v\n%s", err, stderr.String())
			}
			if summary["reward"] != 1.0 || !strings.Contains(fmt.Sprint(summary["unknown_tool"]), "-32602") {
				t.Errorf("node summary %v", summary)
			}
			if mode == "http" {
				waitMCPSessions(t, f.srv, before)
			}
		})
	}
}

// TestMCPIdleSessionsAreReaped: a client that vanishes without ending
// its session (no DELETE) loses it, and its env, after the idle timeout.
func TestMCPIdleSessionsAreReaped(t *testing.T) {
	s := New(textRegistry(t), Config{IdleTimeout: 300 * time.Millisecond})
	ts := httptest.NewServer(s.Handler())
	defer func() { s.Close(); ts.Close() }()
	c := mcp.NewClient(&mcp.Implementation{Name: "envgym-test", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp/text/maze-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "step", Arguments: map[string]any{"action": "look"}})
	if err != nil || !res.IsError || !strings.Contains(textOf(res), "reset") {
		t.Fatalf("step before reset: %v %q", err, textOf(res))
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{"seed": 1, "task": "easy"}})
	if err != nil || res.IsError || s.Sessions() != 1 {
		t.Fatalf("reset: %v %q, %d sessions", err, textOf(res), s.Sessions())
	}
	// A text env has no call forms: reset, step and close only.
	lt, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(lt.Tools) != 3 {
		t.Fatalf("tools of text/maze-v0: %v %d", err, len(lt.Tools))
	}
	// The client goes away without a DELETE.
	for i := 0; i < 200 && (s.Sessions() != 0 || s.metrics.mcpSessions.Load() != 0); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if s.Sessions() != 0 || s.metrics.mcpSessions.Load() != 0 {
		t.Fatalf("after the idle timeout: %d env sessions, %d MCP sessions", s.Sessions(), s.metrics.mcpSessions.Load())
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{}}); err == nil {
		t.Error("a reaped session still answers")
	}
}

// BenchmarkMCPStepVsHTTP steps the in-process text maze through HTTP/JSON
// and through MCP's step tool (Go SDK client) on one server, so the two
// are compared in one run (gym bench serve does the same through a plugin).
func BenchmarkMCPStepVsHTTP(b *testing.B) {
	s := New(textRegistry(b), Config{})
	ts := httptest.NewServer(s.Handler())
	defer func() { s.Close(); ts.Close() }()
	ctx := context.Background()
	spec, _ := textRegistry(b).Spec("text/maze-v0")
	for _, tr := range []string{"http", "mcp"} {
		b.Run(tr, func(b *testing.B) {
			var env gym.Env
			var err error
			if tr == "http" {
				env, err = NewHTTPEnv(ctx, ts.URL, "", "text/maze-v0", nil)
			} else {
				env, err = NewMCPEnv(ctx, ts.URL+"/mcp/text/maze-v0", "", spec)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer env.Close()
			if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "hard"}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := env.Step(ctx, "look")
				if err != nil {
					b.Fatal(err)
				}
				if r.Done() {
					b.StopTimer()
					env.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: "hard"})
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/step")
		})
	}
}

// TestMCPSharesIdentityLimitsMetricsAndDrain: MCP sessions belong to the
// client whose token opened them, count against its limit, show in the
// metrics, and end with the server's drain.
func TestMCPSharesIdentityLimitsMetricsAndDrain(t *testing.T) {
	const alice, bob = "alice-token-0123456789", "bob-token-0123456789ab"
	s := New(textRegistry(t), Config{Tokens: map[string]string{alice: "alice", bob: "bob"}, MaxEnvsPerClient: 1})
	ts := httptest.NewServer(s.Handler())
	defer func() { s.Close(); ts.Close() }()
	url := ts.URL + "/mcp/text/maze-v0"
	ctx := context.Background()
	connect := func(token string) (*mcp.ClientSession, error) {
		c := mcp.NewClient(&mcp.Implementation{Name: "envgym-test", Version: "0"}, nil)
		return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	}
	cs, err := connect(alice)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reset", Arguments: map[string]any{"task": "easy"}}); err != nil || res.IsError {
		t.Fatalf("reset: %v", err)
	}
	// Alice's limit is one session: a second is refused before it starts.
	if _, err := connect(alice); err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
		t.Fatalf("second session over the limit: %v", err)
	}
	// Bob cannot use Alice's session id; his own session is his.
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+bob)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 && resp.StatusCode != 404 {
		t.Fatalf("bob on alice's session: HTTP %d, want 403 or 404", resp.StatusCode)
	}
	if len(s.list("token:alice")) != 1 || len(s.list("token:bob")) != 0 {
		t.Fatalf("sessions: alice %v, bob %v", s.list("token:alice"), s.list("token:bob"))
	}
	mreq, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+alice)
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(metrics), "envgym_mcp_sessions 1") || !regexp.MustCompile(`envgym_requests_total\{transport="mcp"\} [1-9]`).Match(metrics) {
		t.Fatalf("metrics:\n%s", metrics)
	}
	// Drain: no new episodes, then every session ends.
	s.Drain(ctx, 50*time.Millisecond)
	if s.Sessions() != 0 || s.metrics.mcpSessions.Load() != 0 {
		t.Fatalf("after drain: %d env sessions, %d MCP sessions", s.Sessions(), s.metrics.mcpSessions.Load())
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "step", Arguments: map[string]any{"action": "look"}}); err == nil {
		t.Error("a drained session still answers")
	}
}

// TestMCPNamedEpisodesOutliveSessions plays the way verl's MCP tools
// call: a new MCP session for every call, the env named by the episode
// argument; close ends it.
func TestMCPNamedEpisodesOutliveSessions(t *testing.T) {
	s := New(textRegistry(t), Config{})
	ts := httptest.NewServer(s.Handler())
	defer func() { s.Close(); ts.Close() }()
	ctx := context.Background()
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		c := mcp.NewClient(&mcp.Implementation{Name: "per-call", Version: "0"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp/text/maze-v0"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	local, _ := textRegistry(t).Make(ctx, "text/maze-v0", nil)
	defer local.Close()
	oracle, _ := gym.Capable[gym.Oracle](local)
	local.Reset(ctx, gym.ResetOptions{Seed: 4, TaskID: "easy"})
	if res := call("reset", map[string]any{"seed": 4, "task": "easy", "episode": "rollout-1"}); res.IsError {
		t.Fatalf("reset: %s", textOf(res))
	}
	if res := call("step", map[string]any{"action": "look", "episode": "rollout-2"}); !res.IsError || !strings.Contains(textOf(res), "rollout-2") {
		t.Fatalf("step of an episode never reset: %q", textOf(res))
	}
	for i := 0; ; i++ {
		a, _ := oracle.OracleAction(ctx)
		lr, _ := local.Step(ctx, a)
		out := structured(t, call("step", map[string]any{"action": a, "episode": "rollout-1"}))
		if out.Observation != lr.Observation.Text || out.Episode != "rollout-1" {
			t.Fatalf("step %d: served %+v, in process %q", i, out, lr.Observation.Text)
		}
		if out.Terminated {
			if out.Reward <= 0 {
				t.Fatalf("final step %+v", out)
			}
			break
		}
		if i > 60 {
			t.Fatal("the oracle did not finish")
		}
	}
	if s.Sessions() != 1 {
		t.Fatalf("%d env sessions while the named episode lives", s.Sessions())
	}
	call("close", map[string]any{"episode": "rollout-1"})
	waitMCPSessions(t, s, 0)
}

// FuzzMCPToolsFromGrammar: any grammar (a plugin's, so hostile) gives a
// bounded set of tools whose schemas resolve, and arguments that pass a
// tool's schema render into its action (or fail only on optional
// arguments given out of order).
func FuzzMCPToolsFromGrammar(f *testing.F) {
	f.Add(action.Grammar, []byte(`{"id": 3, "text": "a \"b\"", "value": "down"}`))
	f.Add(`search("query") | open(doc_id) | judge(useful) | judge(not_useful) | answer("text")`, []byte(`{"value": "useful", "doc_id": "d1"}`))
	f.Add(`[bash("cmd") view("path") view("path", start, end) insert("path", line, "text") run_tests() submit()]`, []byte(`{"path": "a.go", "start": 1}`))
	f.Add(`scroll(up|down) | scroll(dx, dy) | drag(from_id, to_id)`+"\nid is the number", []byte(`{"from_id": 1, "to_id": 2}`))
	f.Fuzz(func(t *testing.T, grammar string, rawArgs []byte) {
		tools := deriveActionTools(grammar)
		if len(tools) > maxActionTools {
			t.Fatalf("%d tools", len(tools))
		}
		var args map[string]any
		if json.Unmarshal(rawArgs, &args) != nil {
			args = map[string]any{}
		}
		for _, tl := range tools {
			resolved, err := tl.schema().Resolve(nil)
			if err != nil {
				t.Fatalf("tool %s: schema does not resolve: %v", tl.name, err)
			}
			if resolved.Validate(args) != nil {
				continue
			}
			a, err := tl.render(args)
			if err != nil {
				if !strings.Contains(err.Error(), "needs") {
					t.Fatalf("tool %s: schema-valid %v does not render: %v", tl.name, args, err)
				}
				continue
			}
			if !strings.HasPrefix(a, tl.name+"(") || !strings.HasSuffix(a, ")") {
				t.Fatalf("tool %s rendered %q", tl.name, a)
			}
		}
	})
}

// TestMCPStdioBadLines: over stdio (gym mcp), a malformed line and an
// oversized one get JSON-RPC parse errors and the session goes on.
func TestMCPStdioBadLines(t *testing.T) {
	s := New(textRegistry(t), Config{})
	defer s.Close()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeMCP(context.Background(), "text/maze-v0", "stdio", inR, outW) }()
	out := bufio.NewReader(outR)
	send := func(line string) { io.WriteString(inW, line+"\n") }
	recv := func() map[string]any {
		t.Helper()
		b, err := out.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return m
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	if m := recv(); m["id"] != 1.0 || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, bad := range []string{`{"jsonrpc":"2.0","id":2,"method":`, `{"id":3} {"id":4}`, `{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"x":"` + strings.Repeat("a", MaxRequestBytes) + `"}}`} {
		send(bad)
		if m := recv(); m["error"] == nil || m["error"].(map[string]any)["code"] != -32700.0 || m["id"] != nil {
			t.Fatalf("bad line %.40q: %v", bad, m)
		}
	}
	send(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"reset","arguments":{"task":"easy"}}}`)
	if m := recv(); m["id"] != 6.0 || m["result"].(map[string]any)["isError"] == true {
		t.Fatalf("reset after the bad lines: %v", m)
	}
	inW.Close()
	if err := <-done; err != nil && !errors.Is(err, io.EOF) {
		t.Logf("ServeMCP: %v", err)
	}
	waitMCPSessions(t, s, 0)
}
