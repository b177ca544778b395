package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/internal/dnstest"
)

// replicaSet runs stream servers on one port of several loopback IPs
// (all of 127/8 is local on Linux), as replicas of a service share a
// port on their own IPs.
type replicaSet struct {
	t       *testing.T
	maker   Maker
	port    int
	stops   map[string]func()
	servers map[string]*Server
}

func newReplicaSet(t *testing.T, maker Maker, ips ...string) *replicaSet {
	t.Helper()
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		rs := &replicaSet{t: t, maker: maker, port: ln.Addr().(*net.TCPAddr).Port, stops: map[string]func(){}, servers: map[string]*Server{}}
		rs.serve(ips[0], ln)
		ok := true
		for _, ip := range ips[1:] {
			if err := rs.start(ip); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return rs
		}
		for ip := range rs.stops {
			rs.kill(ip)
		}
	}
	t.Fatal("no port free on every loopback IP")
	return nil
}

func (rs *replicaSet) start(ip string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(rs.port)))
	if err != nil {
		return err
	}
	rs.serve(ip, ln)
	return nil
}

func (rs *replicaSet) serve(ip string, ln net.Listener) {
	s := New(rs.maker, Config{Token: "tok"})
	rs.servers[ip] = s
	go s.ServeStream(ln)
	var once sync.Once
	stop := func() { once.Do(func() { ln.Close(); s.Close() }) }
	rs.stops[ip] = stop
	rs.t.Cleanup(stop)
}

// kill closes the replica's listener and every connection, as a killed
// container does.
func (rs *replicaSet) kill(ip string) { rs.stops[ip]() }

func (rs *replicaSet) addr(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(rs.port)) }

// TestPoolFindsReplicasByDNSAndSurvivesAKill plays 6 envs over three
// replicas found through a real DNS server, kills one mid-episode, then
// brings up a replacement on a new IP and restarts the killed one on its
// old IP: only the episodes in flight on the killed replica are CRASHED,
// every episode is on disk naming its replica, both new replicas get envs
// after re-resolution, and the per-replica figures add up to the totals.
func TestPoolFindsReplicasByDNSAndSurvivesAKill(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	const name = "replicas.envgym.test"
	rs := newReplicaSet(t, textRegistry(t), "127.0.0.1", "127.0.0.2", "127.0.0.3")
	dns.Set(name, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	pool := NewPool([]string{fmt.Sprintf("%s:%d", name, rs.port)}, PoolOptions{
		Token: "tok", Resolver: dns.Resolver(), ResolveEvery: 100 * time.Millisecond, DownFor: 200 * time.Millisecond,
	})
	ctx := context.Background()
	if got := pool.Replicas(ctx); len(got) != 3 {
		t.Fatalf("replicas from DNS: %v, want 3", got)
	}
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := trajectory.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const nenv = 6
	envs := make([]*trajectory.Recorder, nenv)
	remotes := make([]*RemoteEnv, nenv)
	for i := range envs {
		if remotes[i], err = pool.Make(ctx, "text/maze-v0", nil); err != nil {
			t.Fatal(err)
		}
		envs[i] = trajectory.Record(remotes[i], w, "random")
	}
	for _, s := range pool.Stats() {
		if s.LiveEnvs != 2 {
			t.Fatalf("6 envs over 3 replicas: %+v, want 2 each", pool.Stats())
		}
	}

	var mu sync.Mutex
	episodes, steps, crashed := 0, 0, map[string]int{}
	finish := func(env gym.Env, rng *rand.Rand, obs gym.Observation) error {
		for {
			r, err := env.Step(ctx, obs.ValidActions[rng.IntN(len(obs.ValidActions))])
			if err != nil {
				return err
			}
			mu.Lock()
			steps++
			if r.Done() {
				episodes++
				if r.Status == gym.StatusCrashed {
					crashed[r.Observation.Info[InfoReplica].(string)]++
				}
			}
			mu.Unlock()
			if r.Done() {
				return nil
			}
			obs = r.Observation
		}
	}
	seed := func(g, ep int) gym.ResetOptions { return gym.ResetOptions{Seed: int64(g*1000 + ep), TaskID: "easy"} }
	// play runs n whole episodes on every env at once.
	play := func(phase, n int) {
		t.Helper()
		var wg sync.WaitGroup
		for g, env := range envs {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), uint64(phase)))
				for ep := range n {
					obs, err := env.Reset(ctx, seed(g, phase*100+ep))
					if err != nil {
						t.Error(err)
						return
					}
					if err := finish(env, rng, obs); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	play(0, 3)

	// Every env one step into an episode, then replica 2 dies.
	obs := make([]gym.Observation, nenv)
	onKilled := 0
	for g, env := range envs {
		o, err := env.Reset(ctx, seed(g, 100))
		if err != nil {
			t.Fatal(err)
		}
		if remotes[g].Server() == rs.addr("127.0.0.2") {
			onKilled++
		}
		r, err := env.Step(ctx, o.ValidActions[0])
		if err != nil || r.Done() {
			t.Fatalf("first step: %+v %v", r, err)
		}
		mu.Lock()
		steps++
		mu.Unlock()
		obs[g] = r.Observation
	}
	if onKilled == 0 {
		t.Fatal("no env on the replica about to be killed")
	}
	rs.kill("127.0.0.2")
	dns.Set(name, "127.0.0.1", "127.0.0.3")
	for g, env := range envs {
		if err := finish(env, rand.New(rand.NewPCG(uint64(g), 9)), obs[g]); err != nil {
			t.Fatal(err)
		}
	}
	if crashed[rs.addr("127.0.0.2")] != onKilled || len(crashed) != 1 {
		t.Fatalf("crashed episodes by replica %v, want %d on the killed one only", crashed, onKilled)
	}
	time.Sleep(150 * time.Millisecond) // past ResolveEvery: the next resets look the name up again
	play(2, 3)
	for _, s := range pool.Stats() {
		if s.Addr == rs.addr("127.0.0.2") && (s.LiveEnvs != 0 || s.Resolved) {
			t.Fatalf("the killed replica still holds envs: %+v", s)
		}
	}

	// A replacement on a new IP, and the killed one back on its old IP.
	if err := rs.start("127.0.0.4"); err != nil {
		t.Fatal(err)
	}
	dns.Set(name, "127.0.0.1", "127.0.0.3", "127.0.0.4")
	time.Sleep(150 * time.Millisecond) // past ResolveEvery
	play(3, 3)
	if err := rs.start("127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	before := episodesOn(pool, rs.addr("127.0.0.2"))
	dns.Set(name, "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
	time.Sleep(250 * time.Millisecond) // past ResolveEvery and DownFor
	play(4, 3)
	if n := episodesOn(pool, rs.addr("127.0.0.4")); n == 0 {
		t.Errorf("the replacement replica served no episode: %+v", pool.Stats())
	}
	if n := episodesOn(pool, rs.addr("127.0.0.2")); n == before {
		t.Errorf("the restarted replica served no episode after re-resolution: %+v", pool.Stats())
	}
	for _, e := range envs {
		e.Close()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	want := nenv * (3 + 1 + 3 + 3 + 3)
	if episodes != want {
		t.Fatalf("%d episodes ended, want %d", episodes, want)
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != want {
		t.Fatalf("%d manifests on disk, want %d", len(ms), want)
	}
	byReplica := map[string]int{}
	crashedOnDisk := 0
	for _, m := range ms {
		if m.Replica == "" {
			t.Fatalf("manifest names no replica: %+v", m)
		}
		byReplica[m.Replica]++
		if m.FinalStatus == gym.StatusCrashed {
			crashedOnDisk++
			if m.Replica != rs.addr("127.0.0.2") {
				t.Errorf("a CRASHED episode on %s, which was not killed", m.Replica)
			}
		}
	}
	if crashedOnDisk != onKilled {
		t.Errorf("%d CRASHED episodes on disk, want %d", crashedOnDisk, onKilled)
	}
	var sumEps int
	var sumSteps int64
	for _, s := range pool.Stats() {
		sumEps += s.Episodes
		sumSteps += s.Steps
		if s.Episodes != byReplica[s.Addr] {
			t.Errorf("%s: %d episodes in the stats, %d manifests name it", s.Addr, s.Episodes, byReplica[s.Addr])
		}
		if s.Steps > 0 && s.StepsPerS <= 0 {
			t.Errorf("%s: %d steps at %v steps/s", s.Addr, s.Steps, s.StepsPerS)
		}
		if s.Addr == rs.addr("127.0.0.2") && s.Failures["CRASHED"] != onKilled {
			t.Errorf("killed replica's failures %v, want CRASHED=%d", s.Failures, onKilled)
		}
	}
	if sumEps != want || sumSteps != int64(steps) {
		t.Errorf("per-replica totals: %d episodes, %d steps; played %d, %d", sumEps, sumSteps, want, steps)
	}
	t.Logf("%d episodes, %d CRASHED by the kill, per replica %v", want, onKilled, byReplica)
}

func episodesOn(p *Pool, addr string) int {
	for _, s := range p.Stats() {
		if s.Addr == addr {
			return s.Episodes
		}
	}
	return 0
}

// TestPoolAddressErrors: a malformed address or a name nothing answers
// for is an error naming it, not a hang.
func TestPoolAddressErrors(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	ctx := context.Background()
	for _, addr := range []string{"no-port", ":8081", "missing.envgym.test:8081"} {
		_, err := NewPool([]string{addr}, PoolOptions{Resolver: dns.Resolver()}).Make(ctx, "text/maze-v0", nil)
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("%q: %v, want an error naming the address", addr, err)
		}
	}
	// The HTTP port given for the stream port (an easy slip: gym serve
	// listens on both) is named as such.
	ts := httptest.NewServer(New(textRegistry(t), Config{}).Handler())
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	_, err = NewPool([]string{addr}, PoolOptions{}).Make(ctx, "text/maze-v0", nil)
	if err == nil || !strings.Contains(err.Error(), addr+" answered HTTP") || !strings.Contains(err.Error(), "--stream") {
		t.Errorf("the HTTP port as a stream address: %v, want it named as HTTP with the fix", err)
	}
}

// TestStreamOracle: on a server started with Config.Oracle the pool's env
// is a gym.Oracle that solves the maze; without it the env is none and
// the op is refused saying how to turn it on; a replica that dies under the oracle's call
// ends the episode CRASHED at the next step.
func TestStreamOracle(t *testing.T) {
	ctx := context.Background()
	s := New(textRegistry(t), Config{Token: "tok", Oracle: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeStream(ln)
	defer func() { ln.Close(); s.Close() }()
	env, err := NewPool([]string{ln.Addr().String()}, PoolOptions{Token: "tok"}).Make(ctx, "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	o, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		t.Fatalf("served maze is no gym.Oracle; spec capabilities %v", env.Spec().Capabilities)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 5, TaskID: "easy"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		a, err := o.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := env.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done() {
			if !r.Success() {
				t.Fatalf("the oracle's episode ended without success: %+v", r)
			}
			break
		}
		if i > 200 {
			t.Fatal("the oracle did not finish")
		}
	}

	addr, _, stop := startStream(t, textRegistry(t)) // Oracle off
	off, err := NewPool([]string{addr}, PoolOptions{Token: "tok"}).Make(ctx, "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := gym.Capable[gym.Oracle](off); ok {
		t.Fatal("a server without the oracle op advertises an oracle")
	}
	if _, err := off.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.OracleAction(ctx); err == nil || !strings.Contains(err.Error(), "--oracle") {
		t.Fatalf("oracle on a server without --oracle: %v", err)
	}
	stop()
	if a, err := off.OracleAction(ctx); err != nil || a != "" {
		t.Fatalf("oracle on a dead server: %q %v, want no error (the step reports it)", a, err)
	}
	r, err := off.Step(ctx, "")
	if err != nil || r.Status != gym.StatusCrashed || !r.Truncated {
		t.Fatalf("step after the server died under the oracle: %+v %v, want CRASHED", r, err)
	}
}

// TestPoolWaitsForALoneReplicaRestart: when the only replica dies, the
// next Reset waits (PoolOptions.Patience) until it is back, instead of
// failing the run; the step in flight was CRASHED.
func TestPoolWaitsForALoneReplicaRestart(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	rs := newReplicaSet(t, textRegistry(t), "127.0.0.5")
	dns.Set("lone.envgym.test", "127.0.0.5")
	pool := NewPool([]string{fmt.Sprintf("lone.envgym.test:%d", rs.port)}, PoolOptions{Token: "tok", Resolver: dns.Resolver(), Patience: 20 * time.Second})
	ctx := context.Background()
	env, err := pool.Make(ctx, "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"})
	if err != nil {
		t.Fatal(err)
	}
	rs.kill("127.0.0.5")
	r, err := env.Step(ctx, obs.ValidActions[0])
	if err != nil || r.Status != gym.StatusCrashed {
		t.Fatalf("step on the killed replica: %+v %v, want CRASHED", r, err)
	}
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		restarted <- rs.start("127.0.0.5")
	}()
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 2, TaskID: "easy"}); err != nil {
		t.Fatalf("reset while the lone replica restarts: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if s := pool.Stats(); len(s) != 1 || s[0].Episodes != 2 || s[0].ConnectFailures == 0 {
		t.Fatalf("stats %+v: want 2 episodes on the one replica and the refused connections counted", s)
	}
	// A pool that never reached a replica fails at once.
	_, err = NewPool([]string{"127.0.0.6:1"}, PoolOptions{Patience: time.Hour}).Make(ctx, "text/maze-v0", nil)
	if !errors.Is(err, ErrNoReplica) {
		t.Fatalf("unreachable new pool: %v", err)
	}
}

// TestPoolResetMovesOffAFailingReplica: a replica that refuses to start an
// episode (draining before a rolling update, or its env failing at reset)
// sends the env to another replica at its next reset instead of failing
// the caller's run. Without the move, the reset returned "server is
// draining" and gym run stopped.
func TestPoolResetMovesOffAFailingReplica(t *testing.T) {
	rs := newReplicaSet(t, textRegistry(t), "127.0.0.7", "127.0.0.8")
	pool := NewPool([]string{rs.addr("127.0.0.7"), rs.addr("127.0.0.8")}, PoolOptions{Token: "tok"})
	ctx := context.Background()
	env, err := pool.Make(ctx, "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"}); err != nil {
		t.Fatal(err)
	}
	first := env.Server()
	ip, _, _ := net.SplitHostPort(first)
	rs.servers[ip].draining.Store(true) // as Drain begins
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 2, TaskID: "easy"})
	if err != nil {
		t.Fatalf("reset with %s draining: %v", first, err)
	}
	if env.Server() == first || env.Server() == "" {
		t.Fatalf("the env stayed on the draining replica %s", first)
	}
	if r, err := env.Step(ctx, obs.ValidActions[0]); err != nil || r.Status != gym.StatusOK {
		t.Fatalf("step on the new replica: %+v %v", r, err)
	}
	// A request no replica can serve still fails, naming why.
	_, err = env.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "no-such-task"})
	var serr *Error
	if !errors.As(err, &serr) || serr.Field != "task_id" {
		t.Fatalf("unknown task: %v, want the server's task_id error", err)
	}
}

// freezer forwards TCP connections to a server until frozen; frozen, it
// still accepts connections and reads (the kernel does so for a stopped
// process or a paused container) but passes no byte on either way.
type freezer struct {
	ln      net.Listener
	backend string
	frozen  atomic.Bool
	closed  atomic.Bool
}

func newFreezer(t *testing.T, ip, backend string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, backend: backend}
	t.Cleanup(func() { f.closed.Store(true); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

func (f *freezer) serve(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", f.backend)
	if err != nil {
		return
	}
	defer b.Close()
	go f.pipe(c, b)
	f.pipe(b, c)
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for f.frozen.Load() && !f.closed.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// delayMaker makes envs whose steps take delay.
type delayMaker struct {
	Maker
	delay time.Duration
}

type delayedEnv struct {
	gym.Env
	delay time.Duration
}

func (m delayMaker) Make(ctx context.Context, id string, opts map[string]any) (gym.Env, error) {
	env, err := m.Maker.Make(ctx, id, opts)
	if err != nil {
		return nil, err
	}
	return delayedEnv{env, m.delay}, nil
}

func (e delayedEnv) Step(ctx context.Context, action string) (gym.StepResult, error) {
	time.Sleep(e.delay)
	return e.Env.Step(ctx, action)
}

// TestPoolProbesAFrozenReplica: a replica that accepts but no longer
// answers (frozen behind a proxy, as a paused container) ends the step in
// flight as TIMEOUT after a failed health probe, not after StepTimeout
// (10 minutes here; the test's own deadline is 2), and the next reset
// moves the env to a live replica. A live replica whose env is slower
// than ProbeAfter answers the probes and keeps its step.
func TestPoolProbesAFrozenReplica(t *testing.T) {
	rs := newReplicaSet(t, delayMaker{textRegistry(t), 900 * time.Millisecond}, "127.0.0.9", "127.0.0.10")
	fz := newFreezer(t, "127.0.0.9", rs.addr("127.0.0.9"))
	pool := NewPool([]string{fz.addr(), rs.addr("127.0.0.10")}, PoolOptions{Token: "tok", StepTimeout: 10 * time.Minute, ProbeAfter: 200 * time.Millisecond, NoRebalance: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var frozenEnv, liveEnv *RemoteEnv
	for range 2 {
		env, err := pool.Make(ctx, "text/maze-v0", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer env.Close()
		if env.Server() == fz.addr() {
			frozenEnv = env
		} else {
			liveEnv = env
		}
	}
	if frozenEnv == nil || liveEnv == nil {
		t.Fatalf("two envs did not spread over the two replicas")
	}
	// Slow but alive: 900 ms steps outlast four probes and still answer.
	obs, err := liveEnv.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := liveEnv.Step(ctx, obs.ValidActions[0]); err != nil || r.Status != gym.StatusOK {
		t.Fatalf("slow step on a live replica: %+v, %v; want OK", r.Status, err)
	}

	obs, err = frozenEnv.Reset(ctx, gym.ResetOptions{Seed: 2, TaskID: "easy"})
	if err != nil {
		t.Fatal(err)
	}
	fz.frozen.Store(true)
	defer fz.frozen.Store(false)
	r, err := frozenEnv.Step(ctx, obs.ValidActions[0])
	if err != nil {
		t.Fatalf("step on a frozen replica: %v (ctx: %v)", err, ctx.Err())
	}
	if r.Status != gym.StatusTimeout || !r.Truncated || !strings.Contains(r.Observation.Text, "stopped answering") || r.Observation.Info[InfoReplica] != fz.addr() {
		t.Fatalf("step on a frozen replica: %s truncated=%v %q info=%v; want TIMEOUT naming the probe and the replica", r.Status, r.Truncated, r.Observation.Text, r.Observation.Info)
	}
	if _, err := frozenEnv.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "easy"}); err != nil {
		t.Fatalf("reset after the freeze: %v", err)
	}
	if frozenEnv.Server() != rs.addr("127.0.0.10") {
		t.Fatalf("after the freeze the env is on %s, want the live replica %s", frozenEnv.Server(), rs.addr("127.0.0.10"))
	}
}
