package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/benchenv"
	"github.com/envgym/envgym/plugins"
	"github.com/envgym/envgym/serve"
)

// benchServeResult is what `gym bench serve --json` prints.
type benchServeResult struct {
	InprocP50US     float64 `json:"inproc_p50_us"`
	PluginP50US     float64 `json:"plugin_p50_us"`
	HTTPStepP50US   float64 `json:"http_step_p50_us"`
	StreamStepP50US float64 `json:"stream_step_p50_us"`
	// OpenEnv WebSocket steps (bench_openenv.go), and their ratio to the
	// stream's in this run.
	OpenEnvWSStepP50US  float64 `json:"openenv_ws_step_p50_us"`
	OpenEnvWSOverStream float64 `json:"openenv_ws_over_stream"`
	// MCP steps (the step tool over streamable HTTP, official Go SDK
	// client), and their ratio to HTTP/JSON's in this run.
	MCPStepP50US float64 `json:"mcp_step_p50_us"`
	MCPOverHTTP  float64 `json:"mcp_over_http"`
	// Search-R1 /retrieve: batches of 64 queries over HTTP, top 3, over
	// RetrievePassages passages (0: not measured).
	RetrieveBatch64P50Ms float64 `json:"retrieve_batch64_p50_ms,omitempty"`
	RetrieveBatch64P99Ms float64 `json:"retrieve_batch64_p99_ms,omitempty"`
	RetrievePassages     int     `json:"retrieve_passages,omitempty"`
	StepsPerS1Srv        float64 `json:"steps_per_s_1srv"`
	StepsPerS2Srv        float64 `json:"steps_per_s_2srv"`
	StepsPerS4Srv        float64 `json:"steps_per_s_4srv"`
	// Ramp is the load test: clients (one env each, stepping in a loop)
	// ramped up against 1, 2 and 4 servers.
	Ramp []rampPoint `json:"ramp,omitempty"`
}

// rampPoint is one cell of the load test.
type rampPoint struct {
	Servers   int     `json:"servers"`
	Clients   int     `json:"clients"`
	StepsPerS float64 `json:"steps_per_s"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
}

func newBenchServeCmd(a *app) *cobra.Command {
	var steps int
	var dur time.Duration
	var ramp bool
	var retrievePassages int
	var ro remoteBenchOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Step latency over HTTP and the stream vs in-process and plugin; throughput on 1/2/4 servers",
		Long: `Bench serve starts gym serve instances on loopback inside this process, each
with its own plugin host (so its own plugin process), serving ` + benchenv.ID + `:

  inproc_p50_us        the env called directly
  plugin_p50_us        through its plugin
  http_step_p50_us     through HTTP/JSON → server → plugin
  stream_step_p50_us   through the line-JSON stream → server → plugin
  openenv_ws_step_p50_us  through OpenEnv's WebSocket /ws → server → plugin
  mcp_step_p50_us      through MCP's step tool (streamable HTTP, Go SDK
                       client) → server → plugin
  retrieve_batch64_p50_ms  POST /retrieve of 64 queries (top 3) over the
                       search env's BM25 index of --retrieve-passages
                       passages (built once into the search cache)
  steps_per_s_Nsrv     stream steps/s, 8 envs spread over N servers

On a 2-core machine more servers share the same cores, so the throughput
column shows the cost of scale-out rather than its gain; on a cluster each
server has its own machine.

With --remote ADDR it starts nothing and measures servers already running
(token from GYM_SERVE_TOKEN): --envs envs of --env, spread over the
replicas (a name in ADDR means every IP it resolves to, e.g. Docker
Swarm's tasks.SERVICE:8081), each stepping its first valid action in a
loop for --duration. It prints steps/s and step latency p50/p99 per
replica and in total; with --json one object with keys remote, env_id,
envs, duration_s, steps, steps_per_s, p50_us, p99_us and replicas, a list
of {addr, envs, steps, steps_per_s, p50_us, p99_us, failures}.`,
		Example: `  gym bench serve
  gym bench serve --ramp --json
  # every replica of a Swarm service (from a container on its network)
  GYM_SERVE_TOKEN=... gym bench serve --remote tasks.envgym_core:8081 --env text/maze-v0 --envs 32 --duration 10s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ro.remote != "" {
				ro.dur = dur
				res, err := benchRemote(cmd.Context(), ro)
				if err != nil {
					return err
				}
				if a.json {
					return a.writeJSON(res)
				}
				return printBenchRemote(a.stdout, res)
			}
			if ro.dns != "" {
				return errors.New("--dns resolves the names of --remote: give --remote too")
			}
			res, err := benchServe(cmd.Context(), a, steps, dur, ramp, retrievePassages)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(res)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "step p50 µs, in process\t%.2f\t\n", res.InprocP50US)
			fmt.Fprintf(tw, "step p50 µs, plugin\t%.1f\t\n", res.PluginP50US)
			fmt.Fprintf(tw, "step p50 µs, HTTP\t%.1f\t\n", res.HTTPStepP50US)
			fmt.Fprintf(tw, "step p50 µs, stream\t%.1f\t\n", res.StreamStepP50US)
			fmt.Fprintf(tw, "step p50 µs, OpenEnv WebSocket\t%.1f\t(%.2f× stream)\n", res.OpenEnvWSStepP50US, res.OpenEnvWSOverStream)
			fmt.Fprintf(tw, "step p50 µs, MCP (streamable HTTP)\t%.1f\t(%.2f× HTTP)\n", res.MCPStepP50US, res.MCPOverHTTP)
			if res.RetrievePassages > 0 {
				fmt.Fprintf(tw, "retrieve 64 queries p50 ms, %d passages\t%.2f\t(p99 %.2f)\n", res.RetrievePassages, res.RetrieveBatch64P50Ms, res.RetrieveBatch64P99Ms)
			}
			fmt.Fprintf(tw, "steps/s, 1 server\t%.0f\t\n", res.StepsPerS1Srv)
			fmt.Fprintf(tw, "steps/s, 2 servers\t%.0f\t\n", res.StepsPerS2Srv)
			fmt.Fprintf(tw, "steps/s, 4 servers\t%.0f\t\n", res.StepsPerS4Srv)
			if err := tw.Flush(); err != nil || len(res.Ramp) == 0 {
				return err
			}
			fmt.Fprintln(a.stdout, "\nload test (stream, one env per client):")
			tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "servers\tclients\tsteps/s\tp50 µs\tp99 µs\t")
			for _, r := range res.Ramp {
				fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f\t\n", r.Servers, r.Clients, r.StepsPerS, r.P50US, r.P99US)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&steps, "steps", 3000, "timed steps per latency measurement")
	cmd.Flags().DurationVar(&dur, "duration", 2*time.Second, "length of each throughput run")
	cmd.Flags().IntVar(&retrievePassages, "retrieve-passages", 100_000, "passages of the retriever benchmark's knowledge base (0: skip it)")
	cmd.Flags().StringVar(&ro.remote, "remote", "", "measure running `gym serve` stream servers instead (host:port,…; a name means every IP it resolves to)")
	cmd.Flags().StringVar(&ro.dns, "dns", "", "with --remote: resolve names with this DNS server (host:port, e.g. 127.0.0.11:53)")
	cmd.Flags().StringVar(&ro.envID, "env", benchenv.ID, "with --remote: the env to step (the servers must serve it)")
	cmd.Flags().IntVar(&ro.envs, "envs", 16, "with --remote: envs stepping at once, spread over the replicas")
	cmd.Flags().BoolVar(&ramp, "ramp", false, "also ramp 1..64 clients against 1, 2 and 4 servers (a load test; each cell runs --duration)")
	return cmd
}

// benchServer is one in-process gym serve on loopback.
type benchServer struct {
	host       *plugins.Host
	srv        *serve.Server
	hs         *http.Server
	httpLn, sl net.Listener
}

func (b *benchServer) close() {
	b.sl.Close()
	b.hs.Close()
	b.srv.Close()
	b.host.Close()
}

func startBenchServer(dir string) (*benchServer, error) {
	host := plugins.New(plugins.Config{Dir: dir})
	reg := gym.NewRegistry()
	if err := host.Register(reg); err != nil {
		host.Close()
		return nil, err
	}
	b := &benchServer{host: host, srv: serve.New(reg, serve.Config{MaxEnvsPerClient: 1000})}
	var err error
	if b.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		host.Close()
		return nil, err
	}
	if b.sl, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		b.httpLn.Close()
		host.Close()
		return nil, err
	}
	b.hs = &http.Server{Handler: b.srv.Handler()}
	go b.hs.Serve(b.httpLn)
	go b.srv.ServeStream(b.sl)
	return b, nil
}

func benchServe(ctx context.Context, a *app, steps int, dur time.Duration, ramp bool, retrievePassages int) (benchServeResult, error) {
	var res benchServeResult
	newEnv, closeHost, err := benchHost(ctx, a)
	if err != nil {
		return res, err
	}
	defer closeHost()
	probe := plugins.New(plugins.Config{Dir: a.pluginDir, HealthInterval: -1})
	_, installed := probe.Plugin(benchenv.ID)
	probe.Close()
	if !installed {
		return res, fmt.Errorf("bench serve: install the bench plugin into %s first (`make build`)", a.pluginDir)
	}
	dir := a.pluginDir
	measure := func(env gym.Env) (float64, error) {
		defer env.Close()
		ds, err := latencies(ctx, env, steps)
		if err != nil {
			return 0, err
		}
		return percentile(ds, 50), nil
	}
	local, _ := benchenv.New(ctx, nil)
	if res.InprocP50US, err = measure(local); err != nil {
		return res, err
	}
	penv, err := newEnv(ctx)
	if err != nil {
		return res, err
	}
	if res.PluginP50US, err = measure(penv); err != nil {
		return res, err
	}
	var servers []*benchServer
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	for range 4 {
		s, err := startBenchServer(dir)
		if err != nil {
			return res, fmt.Errorf("bench serve: %w", err)
		}
		servers = append(servers, s)
	}
	henv, err := serve.NewHTTPEnv(ctx, "http://"+servers[0].httpLn.Addr().String(), "", benchenv.ID, nil)
	if err != nil {
		return res, err
	}
	if res.HTTPStepP50US, err = measure(henv); err != nil {
		return res, err
	}
	senv, err := serve.NewPool([]string{servers[0].sl.Addr().String()}, serve.PoolOptions{}).Make(ctx, benchenv.ID, nil)
	if err != nil {
		return res, err
	}
	if res.StreamStepP50US, err = measure(senv); err != nil {
		return res, err
	}
	oenv, err := serve.NewOpenEnvEnv(ctx, "http://"+servers[0].httpLn.Addr().String(), "", benchenv.ID)
	if err != nil {
		return res, err
	}
	if res.OpenEnvWSStepP50US, err = measure(oenv); err != nil {
		return res, err
	}
	res.OpenEnvWSOverStream = res.OpenEnvWSStepP50US / res.StreamStepP50US
	menv, err := serve.NewMCPEnv(ctx, "http://"+servers[0].httpLn.Addr().String()+"/mcp/"+benchenv.ID, "", benchenv.Spec())
	if err != nil {
		return res, err
	}
	if res.MCPStepP50US, err = measure(menv); err != nil {
		return res, err
	}
	res.MCPOverHTTP = res.MCPStepP50US / res.HTTPStepP50US
	if retrievePassages > 0 {
		if err := benchRetrieve(ctx, a, retrievePassages, &res); err != nil {
			return res, err
		}
	}
	for _, n := range []int{1, 2, 4} {
		var addrs []string
		for _, s := range servers[:n] {
			addrs = append(addrs, s.sl.Addr().String())
		}
		pool := serve.NewPool(addrs, serve.PoolOptions{})
		envs := make([]gym.Env, benchConcurrency)
		for i := range envs {
			if envs[i], err = pool.Make(ctx, benchenv.ID, nil); err != nil {
				return res, err
			}
		}
		sps, err := throughput(ctx, envs, dur)
		for _, e := range envs {
			e.Close()
		}
		if err != nil {
			return res, err
		}
		switch n {
		case 1:
			res.StepsPerS1Srv = sps
		case 2:
			res.StepsPerS2Srv = sps
		case 4:
			res.StepsPerS4Srv = sps
		}
	}
	if !ramp {
		return res, nil
	}
	for _, n := range []int{1, 2, 4} {
		var addrs []string
		for _, s := range servers[:n] {
			addrs = append(addrs, s.sl.Addr().String())
		}
		for _, clients := range []int{1, 4, 16, 64} {
			p, err := loadCell(ctx, serve.NewPool(addrs, serve.PoolOptions{}), clients, dur)
			if err != nil {
				return res, fmt.Errorf("load test %d servers, %d clients: %w", n, clients, err)
			}
			p.Servers = n
			res.Ramp = append(res.Ramp, p)
		}
	}
	return res, nil
}

// loadCell runs clients envs, each stepping in its own goroutine for d,
// and reports throughput and latency percentiles over all steps.
func loadCell(ctx context.Context, pool *serve.Pool, clients int, d time.Duration) (rampPoint, error) {
	envs := make([]gym.Env, clients)
	defer func() {
		for _, e := range envs {
			if e != nil {
				e.Close()
			}
		}
	}()
	for i := range envs {
		e, err := pool.Make(ctx, benchenv.ID, nil)
		if err != nil {
			return rampPoint{}, err
		}
		envs[i] = e
	}
	var mu sync.Mutex
	var all []time.Duration
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i, env := range envs {
		wg.Go(func() {
			var mine []time.Duration
			errs[i] = newActor(env).run(ctx, 0, start.Add(d), func(x time.Duration) { mine = append(mine, x) })
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return rampPoint{}, err
	}
	return rampPoint{Clients: clients, StepsPerS: float64(len(all)) / time.Since(start).Seconds(), P50US: percentile(all, 50), P99US: percentile(all, 99)}, nil
}
