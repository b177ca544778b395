package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Pool makes envs on a set of `gym serve` stream servers (replicas).
//
// An address whose host is a name stands for every IP the name resolves
// to: Docker Swarm's tasks.<service> or a Kubernetes headless Service
// list one IP per replica. Names are resolved again every
// PoolOptions.ResolveEvery and after a connection failure, so a replica
// that dies drops out and its replacement (a new IP) is used. A literal
// IP:port is one replica.
//
// Envs go to the live replica holding the fewest envs now (round-robin
// among equals). When a replica dies, the steps in flight are CRASHED and
// each env is made again on a live replica at its next Reset; at a Reset
// an env also moves when its replica has left the DNS answer or holds two
// envs more than the least loaded live replica, so a replacement gets its
// share without waiting for failures.
type Pool struct {
	targets      []target
	token        string
	stepTimeout  time.Duration
	resolver     *net.Resolver
	resolveEvery time.Duration
	downFor      time.Duration
	rebalance    bool
	names        bool // some target is a name to resolve
	patience     time.Duration
	retryEvery   time.Duration
	probeAfter   time.Duration

	resolveMu sync.Mutex // one resolution at a time

	mu         sync.Mutex
	next       int
	current    []string // the replicas of the last resolution, sorted
	replicas   map[string]*replica
	resolvedAt time.Time
	forceAt    time.Time // a failure asks for a resolution before resolveEvery
	resolveErr error
	made       bool // an env was made once: the service exists
}

// ErrNoReplica: no replica of the pool could be reached (or resolved).
var ErrNoReplica = errors.New("serve: no replica reachable")

// PoolOptions tune a Pool.
type PoolOptions struct {
	Token       string        // the servers' bearer token
	StepTimeout time.Duration // default 60s
	// Resolver looks names up (nil: net.DefaultResolver); tests and
	// callers with their own DNS server set it.
	Resolver *net.Resolver
	// ResolveEvery is how old a name's answer may get before the next
	// Make or Reset looks it up again (default 5s).
	ResolveEvery time.Duration
	// DownFor is how long a replica that failed is tried only after the
	// others (default 5s).
	DownFor time.Duration
	// NoRebalance keeps an env on its replica across resets while the
	// replica works (see Pool).
	NoRebalance bool
	// Patience is how long Make and Reset wait, resolving again, while no
	// replica is reachable, once the pool has made an env: a lone
	// replica's restart, or all of them being replaced (default 30s). A
	// pool that never reached a replica fails at once: a wrong address
	// should not hang.
	Patience time.Duration
	// ProbeAfter is how long a call waits for its answer before the pool
	// probes the replica on a new connection (the stream's ping op), and
	// then again every ProbeAfter; a probe unanswered within ProbeAfter
	// ends the call as TIMEOUT and marks the replica down. A frozen
	// replica (a paused container, a stopped process: the kernel still
	// accepts and acknowledges) costs this, not StepTimeout; a slow env
	// on a live replica answers the probe and keeps its call (default 5s).
	ProbeAfter time.Duration
}

// target is one address given to NewPool.
type target struct {
	given, host, port string
	literal           bool
	err               error    // a malformed address
	addrs             []string // its replicas at the last successful lookup
}

// replica is what the pool knows of one server address.
type replica struct {
	addr        string
	live        int // envs connected to it now
	downUntil   time.Time
	envs        int
	episodes    int
	steps       int64
	failures    map[string]int
	connectErrs int
	first, last time.Time // the first step sent, the last answered
}

// ReplicaStats is one replica's share of a pool's work, for the user's
// end-of-run table and JSON.
type ReplicaStats struct {
	Addr     string `json:"addr"` // ip:port
	Envs     int    `json:"envs"` // envs made on it
	LiveEnvs int    `json:"live_envs"`
	// Episodes are the resets it answered.
	Episodes int   `json:"episodes"`
	Steps    int64 `json:"steps"`
	// StepsPerS is Steps over the time from its first step sent to its
	// last step answered.
	StepsPerS float64 `json:"steps_per_s"`
	// Failures counts the steps it answered with an infrastructure
	// status (CRASHED, TIMEOUT, ENV_ERROR), by status; those end episodes.
	Failures map[string]int `json:"failures"`
	// ConnectFailures counts failed connections and makes.
	ConnectFailures int `json:"connect_failures"`
	// Resolved: the address is in the last DNS answer (always, for a
	// literal address).
	Resolved bool `json:"resolved"`
}

// NewPool returns a pool over stream addresses ("host:port"; a host that
// is a name means every IP it resolves to).
func NewPool(addrs []string, o PoolOptions) *Pool {
	if o.StepTimeout <= 0 {
		o.StepTimeout = 60 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.ResolveEvery <= 0 {
		o.ResolveEvery = 5 * time.Second
	}
	if o.DownFor <= 0 {
		o.DownFor = 5 * time.Second
	}
	if o.Patience <= 0 {
		o.Patience = 30 * time.Second
	}
	if o.ProbeAfter <= 0 {
		o.ProbeAfter = 5 * time.Second
	}
	p := &Pool{token: o.Token, stepTimeout: o.StepTimeout, resolver: o.Resolver, resolveEvery: o.ResolveEvery,
		downFor: o.DownFor, rebalance: !o.NoRebalance, patience: o.Patience, retryEvery: 250 * time.Millisecond, probeAfter: o.ProbeAfter,
		replicas: map[string]*replica{}}
	for _, a := range addrs {
		t := target{given: a}
		host, port, err := net.SplitHostPort(a)
		switch {
		case err != nil:
			t.err = fmt.Errorf("serve: address %q: want host:port (a name such as tasks.envgym:8081 means every IP it resolves to): %w", a, err)
		case host == "":
			t.err = fmt.Errorf("serve: address %q: no host; want host:port", a)
		default:
			t.host, t.port = host, port
			if ip, err := netip.ParseAddr(host); err == nil {
				t.literal, t.addrs = true, []string{net.JoinHostPort(ip.String(), port)}
			}
		}
		p.targets = append(p.targets, t)
		p.names = p.names || (!t.literal && t.err == nil)
	}
	p.mu.Lock()
	p.install(time.Now())
	p.mu.Unlock()
	return p
}

// install makes the targets' addresses the current replica set; p.mu held.
func (p *Pool) install(now time.Time) {
	var cur []string
	for _, t := range p.targets {
		cur = append(cur, t.addrs...)
	}
	slices.Sort(cur)
	p.current = slices.Compact(cur)
	for _, a := range p.current {
		p.get(a)
	}
	p.resolvedAt = now
}

// get returns the replica of addr, adding it; p.mu held.
func (p *Pool) get(addr string) *replica {
	r, ok := p.replicas[addr]
	if !ok {
		r = &replica{addr: addr, failures: map[string]int{}}
		p.replicas[addr] = r
	}
	return r
}

// refresh resolves the names again when the answer is old or a failure
// asked for it. Callers that find a resolution under way go on with the
// current set, unless there is none yet.
func (p *Pool) refresh(ctx context.Context) {
	if !p.names {
		return
	}
	p.mu.Lock()
	empty := len(p.current) == 0
	stale := p.staleLocked(time.Now())
	p.mu.Unlock()
	if !stale {
		return
	}
	if empty {
		p.resolveMu.Lock()
	} else if !p.resolveMu.TryLock() {
		return
	}
	defer p.resolveMu.Unlock()
	p.mu.Lock()
	stale = p.staleLocked(time.Now())
	p.mu.Unlock()
	if !stale {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	found := make([][]string, len(p.targets))
	var errs []error
	for i := range p.targets {
		t := &p.targets[i] // only its fixed fields: addrs changes under p.mu
		if t.literal || t.err != nil {
			continue
		}
		ips, err := p.resolver.LookupHost(ctx, t.host)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %s: %w", t.given, err))
			continue
		}
		for _, ip := range ips {
			found[i] = append(found[i], net.JoinHostPort(ip, t.port))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.targets {
		if found[i] != nil {
			p.targets[i].addrs = found[i]
		}
	}
	p.resolveErr = nil
	if len(errs) > 0 {
		p.resolveErr = errs[0]
	}
	p.install(time.Now())
	p.forceAt = time.Time{}
}

func (p *Pool) staleLocked(now time.Time) bool {
	if len(p.current) == 0 || now.Sub(p.resolvedAt) >= p.resolveEvery {
		return true
	}
	// After a failure, look again, but not more than twice a second.
	return !p.forceAt.IsZero() && now.Sub(p.resolvedAt) >= 500*time.Millisecond
}

// pick returns the replicas to try in order: live ones with the fewest
// envs first (round-robin among equals), then those that failed lately.
func (p *Pool) pick() ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.current) == 0 {
		var errs []error
		for _, t := range p.targets {
			if t.err != nil {
				errs = append(errs, t.err)
			}
		}
		if p.resolveErr != nil {
			errs = append(errs, p.resolveErr)
		}
		if len(errs) == 0 {
			errs = append(errs, fmt.Errorf("serve: no server address"))
		}
		return nil, fmt.Errorf("%w: %w", ErrNoReplica, errors.Join(errs...))
	}
	now := time.Now()
	var up, down []*replica
	n := len(p.current)
	for i := range n {
		r := p.replicas[p.current[(p.next+i)%n]]
		if now.Before(r.downUntil) {
			down = append(down, r)
		} else {
			up = append(up, r)
		}
	}
	p.next++
	slices.SortStableFunc(up, func(a, b *replica) int { return cmp.Compare(a.live, b.live) })
	out := make([]string, 0, n)
	for _, r := range append(up, down...) {
		out = append(out, r.addr)
	}
	return out, nil
}

// shouldMove says whether an env on addr should be made elsewhere at its
// reset: addr left the DNS answer, or holds two envs more than the least
// loaded live replica.
func (p *Pool) shouldMove(addr string) bool {
	if !p.rebalance {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.current, addr) {
		return true
	}
	mine := p.replicas[addr].live
	now := time.Now()
	for _, a := range p.current {
		r := p.replicas[a]
		if a != addr && !now.Before(r.downUntil) && r.live+2 <= mine {
			return true
		}
	}
	return false
}

func (p *Pool) markDown(addr string) {
	p.mu.Lock()
	r := p.get(addr)
	r.downUntil = time.Now().Add(p.downFor)
	p.forceAt = time.Now()
	p.mu.Unlock()
}

func (p *Pool) madeOnce() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}

// forceResolve asks the next refresh to look the names up again.
func (p *Pool) forceResolve() {
	p.mu.Lock()
	p.forceAt = time.Now()
	p.mu.Unlock()
}

func (p *Pool) connectFailed(addr string) {
	p.mu.Lock()
	p.get(addr).connectErrs++
	p.mu.Unlock()
	p.markDown(addr)
}

func (p *Pool) attach(addr string) {
	p.mu.Lock()
	p.made = true
	r := p.get(addr)
	r.live++
	r.envs++
	p.mu.Unlock()
}

func (p *Pool) detach(addr string) {
	p.mu.Lock()
	p.get(addr).live--
	p.mu.Unlock()
}

func (p *Pool) episodeStarted(addr string) {
	p.mu.Lock()
	p.get(addr).episodes++
	p.mu.Unlock()
}

// stepped records one step answered by addr (status "" when the
// connection failed before an answer: it counts as the failure status).
func (p *Pool) stepped(addr string, sent, answered time.Time, status string, infra bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.get(addr)
	r.steps++
	if r.first.IsZero() || sent.Before(r.first) {
		r.first = sent
	}
	if answered.After(r.last) {
		r.last = answered
	}
	if infra {
		r.failures[status]++
	}
}

// Stats returns every replica the pool has known, sorted by address.
func (p *Pool) Stats() []ReplicaStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ReplicaStats, 0, len(p.replicas))
	for _, r := range p.replicas {
		s := ReplicaStats{Addr: r.addr, Envs: r.envs, LiveEnvs: r.live, Episodes: r.episodes, Steps: r.steps,
			Failures: map[string]int{}, ConnectFailures: r.connectErrs, Resolved: slices.Contains(p.current, r.addr)}
		for k, v := range r.failures {
			s.Failures[k] = v
		}
		if d := r.last.Sub(r.first).Seconds(); d > 0 {
			s.StepsPerS = float64(r.steps) / d
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ReplicaStats) int { return cmp.Compare(a.Addr, b.Addr) })
	return out
}

// Replicas returns the addresses of the last resolution, sorted.
func (p *Pool) Replicas(ctx context.Context) []string {
	p.refresh(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.current)
}

// ResolverAt returns a resolver that asks only the DNS server at addr
// (host:port), e.g. Docker's embedded DNS at 127.0.0.11:53 or a cluster's.
func ResolverAt(addr string) (*net.Resolver, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("DNS server %q: want host:port such as 127.0.0.11:53: %w", addr, err)
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}, nil
}
