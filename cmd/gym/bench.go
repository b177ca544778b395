package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/benchenv"
	"github.com/envgym/envgym/internal/stats"
	"github.com/envgym/envgym/plugins"
)

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: the plugin boundary and the env families",
		Long: `Bench measures where time goes. Each subcommand prints a table, or one JSON
object with --json. The figures are measurements, not assertions: compare
them on the same machine.`,
	}
	cmd.AddCommand(newBenchPluginCmd(a), newBenchServeCmd(a))
	cmd.AddCommand(benchEnvCmds(a)...)
	cmd.AddCommand(newBenchTrainerCmd(a))
	return cmd
}

// benchPluginResult is what `gym bench plugin --json` prints.
type benchPluginResult struct {
	InprocP50US   float64 `json:"inproc_p50_us"`
	InprocP99US   float64 `json:"inproc_p99_us"`
	PluginP50US   float64 `json:"plugin_p50_us"`
	PluginP99US   float64 `json:"plugin_p99_us"`
	OverheadP50US float64 `json:"overhead_p50_us"`
	StepsPerS1    float64 `json:"steps_per_s_1"`
	StepsPerS8    float64 `json:"steps_per_s_8"`
}

// benchConcurrency is the number of envs of the concurrent throughput run.
const benchConcurrency = 8

func newBenchPluginCmd(a *app) *cobra.Command {
	var steps int
	var dur time.Duration
	var pluginPath, envID string
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Step latency in process vs through a plugin, and plugin throughput",
		Long: `Bench plugin steps the same trivial env (` + benchenv.ID + `: it echoes the action,
a Step costs a few hundred nanoseconds) in this process and through its
plugin, so what it measures is the plugin boundary itself:

  inproc_p50_us, inproc_p99_us   Step latency in process
  plugin_p50_us, plugin_p99_us   Step latency through the plugin (one env)
  overhead_p50_us                plugin_p50_us - inproc_p50_us
  steps_per_s_1                  plugin steps/s, one env stepped in a loop
  steps_per_s_8                  plugin steps/s, 8 envs (one goroutine each,
                                 all served by the one plugin process)

Latencies are over --steps timed steps; each throughput figure runs for
--duration. The plugin is looked up in the plugin directory as env id
` + benchenv.ID + ` (` + "`make build`" + ` installs bin/gym-plugin-bench there); failing that,
a gym-plugin-bench binary next to the gym binary is installed into a
temporary directory and used.`,
		Example: `  gym bench plugin
  gym bench plugin --json
  gym bench plugin --plugin examples/python/guess/main.py   # what Python costs, beside the Go text env
  gym bench plugin --steps 50000 --duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if steps < 1 {
				return fmt.Errorf("--steps %d: want at least 1", steps)
			}
			if dur <= 0 {
				return fmt.Errorf("--duration %s: want a positive duration", dur)
			}
			if pluginPath != "" {
				res, err := benchAnyPlugin(cmd.Context(), a, pluginPath, envID, steps, dur)
				if err != nil {
					return err
				}
				if a.json {
					return a.writeJSON(res)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "env	p50 µs	p99 µs	steps/s 1 env	steps/s 8 envs	")
				for _, r := range []*benchAnyResult{&res, res.Reference} {
					if r != nil {
						fmt.Fprintf(tw, "%s	%.1f	%.1f	%.0f	%.0f	\n", r.EnvID, r.PluginP50US, r.PluginP99US, r.StepsPerS1, r.StepsPerS8)
					}
				}
				return tw.Flush()
			}
			res, err := benchPlugin(cmd.Context(), a, steps, dur)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(res)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "\tp50 µs\tp99 µs\t")
			fmt.Fprintf(tw, "in process\t%.2f\t%.2f\t\n", res.InprocP50US, res.InprocP99US)
			fmt.Fprintf(tw, "plugin\t%.2f\t%.2f\t\n", res.PluginP50US, res.PluginP99US)
			fmt.Fprintf(tw, "overhead\t%.2f\t\t\n", res.OverheadP50US)
			fmt.Fprintln(tw, "\t\t\t")
			fmt.Fprintf(tw, "plugin steps/s, 1 env\t%.0f\t\t\n", res.StepsPerS1)
			fmt.Fprintf(tw, "plugin steps/s, %d envs\t%.0f\t\t\n", benchConcurrency, res.StepsPerS8)
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&steps, "steps", 10000, "timed steps per latency measurement")
	cmd.Flags().DurationVar(&dur, "duration", 2*time.Second, "length of each throughput run")
	cmd.Flags().StringVar(&pluginPath, "plugin", "", "measure this plugin instead (a binary or a .py script), beside the Go text env")
	cmd.Flags().StringVar(&envID, "env", "", "with --plugin: the env id to measure (default: its first)")
	return cmd
}

func benchPlugin(ctx context.Context, a *app, steps int, dur time.Duration) (benchPluginResult, error) {
	var res benchPluginResult
	newEnv, closeHost, err := benchHost(ctx, a)
	if err != nil {
		return res, err
	}
	defer closeHost()

	// In process as a registry serves it (Enforced), as the plugin does.
	bare, _ := benchenv.New(ctx, nil)
	local := gym.Enforce(bare)
	inproc, err := latencies(ctx, local, steps)
	if err != nil {
		return res, fmt.Errorf("bench in process: %w", err)
	}
	envs := make([]gym.Env, 0, benchConcurrency)
	defer func() {
		for _, e := range envs {
			_ = e.Close()
		}
	}()
	for range benchConcurrency {
		e, err := newEnv(ctx)
		if err != nil {
			return res, fmt.Errorf("bench plugin: %w", err)
		}
		envs = append(envs, e)
	}
	remote, err := latencies(ctx, envs[0], steps)
	if err != nil {
		return res, fmt.Errorf("bench plugin: %w", err)
	}
	res.InprocP50US, res.InprocP99US = percentile(inproc, 50), percentile(inproc, 99)
	res.PluginP50US, res.PluginP99US = percentile(remote, 50), percentile(remote, 99)
	res.OverheadP50US = res.PluginP50US - res.InprocP50US
	if res.StepsPerS1, err = throughput(ctx, envs[:1], dur); err != nil {
		return res, fmt.Errorf("bench plugin: %w", err)
	}
	if res.StepsPerS8, err = throughput(ctx, envs, dur); err != nil {
		return res, fmt.Errorf("bench plugin: %w", err)
	}
	return res, nil
}

// benchHost finds the bench plugin: in the plugin directory, else next
// to the gym binary (installed into a temporary directory).
func benchHost(ctx context.Context, a *app) (func(context.Context) (gym.Env, error), func(), error) {
	open := func(host *plugins.Host, cleanup func()) (func(context.Context) (gym.Env, error), func(), error) {
		mk := func(ctx context.Context) (gym.Env, error) {
			env, err := host.Make(ctx, benchenv.ID, nil)
			if err != nil {
				return nil, err
			}
			return env, nil
		}
		return mk, func() { host.Close(); cleanup() }, nil
	}
	host := plugins.New(plugins.Config{Dir: a.pluginDir})
	if _, ok := host.Plugin(benchenv.ID); ok {
		return open(host, func() {})
	}
	host.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("bench plugin: %w", err)
	}
	bin := filepath.Join(filepath.Dir(exe), "gym-plugin-bench")
	if _, err := os.Stat(bin); err != nil {
		return nil, nil, fmt.Errorf("bench plugin: no plugin serves %s in %s, and there is no %s: build and install it with `make build`, or `go build -o bin/ ./internal/benchenv/cmd/gym-plugin-bench && gym plugin install bin/gym-plugin-bench`",
			benchenv.ID, a.pluginDir, bin)
	}
	dir, err := os.MkdirTemp("", "gym-bench-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench plugin: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	if _, err := plugins.Install(ctx, bin, dir, plugins.InstallOptions{}); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench plugin: %w", err)
	}
	return open(plugins.New(plugins.Config{Dir: dir}), cleanup)
}

// latencies times n steps of env after a short warm-up. Episode ends are
// reset outside the timed region.
func latencies(ctx context.Context, env gym.Env, n int) ([]time.Duration, error) {
	if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
		return nil, err
	}
	warm := min(n/10, 500)
	out := make([]time.Duration, 0, n)
	for i := 0; i < warm+n; i++ {
		start := time.Now()
		r, err := env.Step(ctx, "ping")
		d := time.Since(start)
		if err != nil {
			return nil, err
		}
		if r.Status != gym.StatusOK {
			return nil, fmt.Errorf("step %d: status %s: %s", i, r.Status, r.Observation.Text)
		}
		if i >= warm {
			out = append(out, d)
		}
		if r.Done() {
			if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// throughput steps every env from its own goroutine for d and returns
// the total steps per second.
func throughput(ctx context.Context, envs []gym.Env, d time.Duration) (float64, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	start := time.Now()
	deadline := start.Add(d)
	for i, env := range envs {
		wg.Go(func() {
			if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
				errs[i] = err
				return
			}
			var n int64
			for time.Now().Before(deadline) {
				r, err := env.Step(ctx, "ping")
				if err != nil {
					errs[i] = err
					break
				}
				n++
				if r.Done() {
					if _, err := env.Reset(ctx, gym.ResetOptions{}); err != nil {
						errs[i] = err
						break
					}
				}
			}
			total.Add(n)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(total.Load()) / elapsed.Seconds(), nil
}

// percentile returns stats.Percentile of ds in microseconds.
func percentile(ds []time.Duration, p float64) float64 {
	return float64(stats.Percentile(ds, p).Nanoseconds()) / 1000
}
