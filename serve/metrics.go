package serve

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envgym/envgym/gym"
)

// metrics are exported in Prometheus' text format without a client
// library: a few counters, a gauge and one histogram.
type metrics struct {
	sessions       atomic.Int64
	reaped         atomic.Int64
	httpRequests   atomic.Int64
	streamRequests atomic.Int64
	unauthorized   atomic.Int64
	refusedConns   atomic.Int64 // over a connection limit
	mcpRequests    atomic.Int64
	oeMessages     atomic.Int64 // OpenEnv WebSocket messages (openenv_ws.go)
	mcpSessions    atomic.Int64 // open MCP sessions (mcp.go)
	start          time.Time

	mu      sync.Mutex
	status  [5]int64
	buckets []float64 // upper bounds, seconds
	counts  []int64
	sum     float64
	n       int64
}

func newMetrics() *metrics {
	b := []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	return &metrics{buckets: b, counts: make([]int64, len(b)), start: time.Now()}
}

func (m *metrics) observeStep(st gym.Status, d time.Duration) {
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	if st >= 0 && int(st) < len(m.status) {
		m.status[st]++
	}
	for i, ub := range m.buckets {
		if sec <= ub {
			m.counts[i]++
		}
	}
	m.sum += sec
	m.n++
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP envgym_steps_total Env steps served, by step status.")
	fmt.Fprintln(w, "# TYPE envgym_steps_total counter")
	for i, c := range m.status {
		fmt.Fprintf(w, "envgym_steps_total{status=%q} %d\n", gym.Status(i).String(), c)
	}
	fmt.Fprintln(w, "# HELP envgym_step_seconds Latency of env steps.")
	fmt.Fprintln(w, "# TYPE envgym_step_seconds histogram")
	for i, ub := range m.buckets {
		fmt.Fprintf(w, "envgym_step_seconds_bucket{le=\"%g\"} %d\n", ub, m.counts[i])
	}
	fmt.Fprintf(w, "envgym_step_seconds_bucket{le=\"+Inf\"} %d\n", m.n)
	fmt.Fprintf(w, "envgym_step_seconds_sum %g\nenvgym_step_seconds_count %d\n", m.sum, m.n)
	fmt.Fprintln(w, "# HELP envgym_steps_per_second Mean steps per second since start.")
	fmt.Fprintln(w, "# TYPE envgym_steps_per_second gauge")
	fmt.Fprintf(w, "envgym_steps_per_second %g\n", float64(m.n)/time.Since(m.start).Seconds())
	fmt.Fprintln(w, "# HELP envgym_sessions Live env sessions.")
	fmt.Fprintln(w, "# TYPE envgym_sessions gauge")
	fmt.Fprintf(w, "envgym_sessions %d\n", m.sessions.Load())
	fmt.Fprintln(w, "# HELP envgym_mcp_sessions Open MCP sessions (each holds at most one env session).")
	fmt.Fprintln(w, "# TYPE envgym_mcp_sessions gauge")
	fmt.Fprintf(w, "envgym_mcp_sessions %d\n", m.mcpSessions.Load())
	fmt.Fprintln(w, "# TYPE envgym_sessions_reaped_total counter")
	fmt.Fprintf(w, "envgym_sessions_reaped_total %d\n", m.reaped.Load())
	fmt.Fprintln(w, "# TYPE envgym_requests_total counter")
	fmt.Fprintf(w, "envgym_requests_total{transport=\"http\"} %d\n", m.httpRequests.Load())
	fmt.Fprintf(w, "envgym_requests_total{transport=\"stream\"} %d\n", m.streamRequests.Load())
	fmt.Fprintf(w, "envgym_requests_total{transport=\"mcp\"} %d\n", m.mcpRequests.Load())
	fmt.Fprintf(w, "envgym_requests_total{transport=\"openenv_ws\"} %d\n", m.oeMessages.Load())
	fmt.Fprintln(w, "# TYPE envgym_unauthorized_total counter")
	fmt.Fprintf(w, "envgym_unauthorized_total %d\n", m.unauthorized.Load())
	fmt.Fprintln(w, "# TYPE envgym_refused_connections_total counter")
	fmt.Fprintf(w, "envgym_refused_connections_total %d\n", m.refusedConns.Load())
}

func nowNano() int64 { return time.Now().UnixNano() }
