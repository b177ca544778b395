package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/sdk/envtest"
)

func textRegistry(t testing.TB) *gym.Registry {
	t.Helper()
	reg := gym.NewRegistry()
	if err := text.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

type httpClient struct {
	t     *testing.T
	base  string
	token string
}

func (c httpClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func TestHTTPEpisodeWithOracle(t *testing.T) {
	s := New(textRegistry(t), Config{Token: "secret"})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := httpClient{t, ts.URL, "secret"}

	code, made := c.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"})
	if code != 201 {
		t.Fatalf("make: %d %v", code, made)
	}
	id := made["session_id"].(string)
	// The oracle lives in-process; replay its plan over HTTP.
	local, _ := textRegistry(t).Make(context.Background(), "text/maze-v0", nil)
	oracle, _ := gym.Capable[gym.Oracle](local)
	local.Reset(context.Background(), gym.ResetOptions{Seed: 3, TaskID: "easy"})
	code, obs := c.do("POST", "/v1/envs/"+id+"/reset", map[string]any{"seed": 3, "task_id": "easy"})
	if code != 200 || obs["text"] == "" {
		t.Fatalf("reset: %d %v", code, obs)
	}
	for i := 0; i < 50; i++ {
		a, _ := oracle.OracleAction(context.Background())
		lr, _ := local.Step(context.Background(), a)
		code, res := c.do("POST", "/v1/envs/"+id+"/step", map[string]any{"action": a})
		if code != 200 || res["status"] != "OK" {
			t.Fatalf("step %q: %d %v", a, code, res)
		}
		if res["observation"].(map[string]any)["text"] != lr.Observation.Text {
			t.Fatal("served observation differs from the in-process env's")
		}
		if res["terminated"] == true {
			if res["reward"].(float64) <= 0 {
				t.Fatalf("final step %v", res)
			}
			code, _ = c.do("DELETE", "/v1/envs/"+id, nil)
			if code != 200 || s.Sessions() != 0 {
				t.Fatalf("close: %d, %d sessions left", code, s.Sessions())
			}
			return
		}
	}
	t.Fatal("oracle did not finish over HTTP")
}

func TestWrongTokenCreatesNothing(t *testing.T) {
	s := New(textRegistry(t), Config{Token: "secret"})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, tok := range []string{"", "wrong", "secret2"} {
		code, body := httpClient{t, ts.URL, tok}.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"})
		if code != 401 || body["field"] != "Authorization" {
			t.Fatalf("token %q: %d %v, want 401", tok, code, body)
		}
	}
	if s.Sessions() != 0 {
		t.Fatalf("%d sessions created without auth", s.Sessions())
	}
}

func TestMalformedRequestsNameTheFieldAndNeverCrash(t *testing.T) {
	s := New(textRegistry(t), Config{})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := httpClient{t, ts.URL, ""}
	cases := []struct{ body, field string }{
		{`{"env_id": 5}`, "env_id"},
		{`{"env_id": "text/maze-v0", "colour": 1}`, "colour"},
		{`{}`, "env_id"},
		{`{"env_id": "text/maz-v0"}`, "env_id"},
	}
	for _, tc := range cases {
		code, body := c.do("POST", "/v1/envs", tc.body)
		if code < 400 || code >= 500 || body["field"] != tc.field {
			t.Errorf("%s: %d %v, want 4xx naming %q", tc.body, code, body, tc.field)
		}
	}
	_, made := c.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"})
	id := made["session_id"].(string)
	if code, body := c.do("POST", "/v1/envs/"+id+"/step", `{}`); code != 400 || body["field"] != "action" {
		t.Errorf("missing action: %d %v", code, body)
	}
	if code, body := c.do("POST", "/v1/envs/"+id+"/reset", `{"seed": "x"}`); code != 400 || body["field"] != "seed" {
		t.Errorf("bad seed: %d %v", code, body)
	}
	// 1,000 random malformed requests on every route: no 5xx, server alive.
	rng := rand.New(rand.NewPCG(1, 2))
	routes := []string{"/v1/envs", "/v1/envs/" + id + "/reset", "/v1/envs/" + id + "/step", "/v1/envs/nope/step"}
	for i := 0; i < 1000; i++ {
		b := make([]byte, rng.IntN(64))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			b = append([]byte(`{"action":`), b...)
		}
		code, _ := c.do("POST", routes[rng.IntN(len(routes))], string(b))
		if code >= 500 {
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	if code, _ := c.do("GET", "/healthz", nil); code != 200 {
		t.Fatal("server unhealthy after fuzzing")
	}
}

func TestPerClientLimitAndIdleReaping(t *testing.T) {
	s := New(textRegistry(t), Config{MaxEnvsPerClient: 2, IdleTimeout: 200 * time.Millisecond})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := httpClient{t, ts.URL, ""}
	for i := 0; i < 2; i++ {
		if code, _ := c.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"}); code != 201 {
			t.Fatal(code)
		}
	}
	if code, _ := c.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"}); code != 429 {
		t.Fatalf("third env: %d, want 429", code)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s.Sessions() != 0 {
		t.Fatal("idle sessions were not reaped")
	}
	if code, _ := c.do("POST", "/v1/envs", map[string]any{"env_id": "text/maze-v0"}); code != 201 {
		t.Fatalf("after reaping: %d", code)
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:1": true, "0.0.0.0:8080": false, ":8080": false} {
		if err := CheckListen(addr, ""); (err == nil) != ok {
			t.Errorf("%s without token: err=%v", addr, err)
		}
	}
	if err := CheckListen("0.0.0.0:8080", "tok"); err != nil {
		t.Error(err)
	}
}

// startStream runs a stream server on loopback; stop kills it abruptly.
func startStream(t *testing.T, maker Maker) (addr string, s *Server, stop func()) {
	t.Helper()
	s = New(maker, Config{Token: "tok"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeStream(ln)
	var once sync.Once
	stop = func() { once.Do(func() { ln.Close(); s.Close() }) }
	t.Cleanup(stop)
	return ln.Addr().String(), s, stop
}

func TestStreamEnvPassesConformance(t *testing.T) {
	addr, _, _ := startStream(t, textRegistry(t))
	pool := NewPool([]string{addr}, PoolOptions{Token: "tok"})
	rep := envtest.Run(context.Background(), func(ctx context.Context) (gym.Env, error) {
		return pool.Make(ctx, "text/maze-v0", nil)
	}, envtest.Config{Seeds: 2})
	if !rep.OK() {
		t.Fatalf("served env failed conformance: %+v", rep)
	}
}

func TestKillingOneOfThreeServersLosesNoReportedEpisode(t *testing.T) {
	reg := textRegistry(t)
	var addrs []string
	var stops []func()
	for i := 0; i < 3; i++ {
		a, _, stop := startStream(t, reg)
		addrs = append(addrs, a)
		stops = append(stops, stop)
	}
	pool := NewPool(addrs, PoolOptions{Token: "tok"})
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := trajectory.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	reported, crashed := 0, 0
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Go(func() {
			renv, err := pool.Make(ctx, "text/maze-v0", nil)
			if err != nil {
				t.Error(err)
				return
			}
			env := trajectory.Record(renv, w, "random")
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for ep := 0; ep < 8; ep++ {
				obs, err := env.Reset(ctx, gym.ResetOptions{Seed: int64(g*100 + ep), TaskID: "easy"})
				if err != nil {
					t.Error(err)
					return
				}
				for {
					r, err := env.Step(ctx, obs.ValidActions[rng.IntN(len(obs.ValidActions))])
					if err != nil {
						t.Error(err)
						return
					}
					obs = r.Observation
					if r.Done() {
						mu.Lock()
						reported++
						if r.Status == gym.StatusCrashed {
							crashed++
						}
						mu.Unlock()
						break
					}
				}
				if g == 0 && ep == 2 {
					stops[1]() // kill a server mid-run
				}
			}
			env.Close()
		})
	}
	wg.Wait()
	w.Close()
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != reported || reported != 48 {
		t.Fatalf("%d episodes reported by clients, %d on disk, want 48 both", reported, len(ms))
	}
	t.Logf("48 episodes, %d cut by the killed server (CRASHED), all on disk", crashed)
}

func TestDrainLetsEpisodesFinish(t *testing.T) {
	addr, s, _ := startStream(t, textRegistry(t))
	pool := NewPool([]string{addr}, PoolOptions{Token: "tok"})
	ctx := context.Background()
	env, err := pool.Make(ctx, "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	oracleEnv, _ := textRegistry(t).Make(ctx, "text/maze-v0", nil)
	oracle, _ := gym.Capable[gym.Oracle](oracleEnv)
	oracleEnv.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"})
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"}); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { s.Drain(context.Background(), 5*time.Second); close(drained) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := pool.Make(ctx, "text/maze-v0", nil); err == nil {
		t.Fatal("a draining server made a new env")
	}
	for {
		a, _ := oracle.OracleAction(ctx)
		oracleEnv.Step(ctx, a)
		r, err := env.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done() {
			if !r.Terminated || r.Status != gym.StatusOK {
				t.Fatalf("episode cut during drain: %+v", r)
			}
			break
		}
	}
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not finish after the episode ended")
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 2}); err == nil {
		t.Fatal("reset succeeded on a drained server")
	}
}

func TestErrorTypes(t *testing.T) {
	var e error = errorf(404, "env_id", "x")
	var se *Error
	if !errors.As(e, &se) || se.Field != "env_id" || !strings.Contains(fmt.Sprint(e), "env_id") {
		t.Fatal(e)
	}
}
