package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/envgym/envgym/serve"
)

// benchRemoteResult is what `gym bench serve --remote ADDR --json` prints.
type benchRemoteResult struct {
	Remote    string  `json:"remote"`
	EnvID     string  `json:"env_id"`
	Envs      int     `json:"envs"`
	DurationS float64 `json:"duration_s"`
	Steps     int     `json:"steps"`
	StepsPerS float64 `json:"steps_per_s"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
	// Replicas share the window: their steps_per_s add up to the total.
	Replicas []benchReplica `json:"replicas"`
}

// benchReplica is one replica's part of a remote bench.
type benchReplica struct {
	Addr      string         `json:"addr"`
	Envs      int            `json:"envs"`
	Steps     int            `json:"steps"`
	StepsPerS float64        `json:"steps_per_s"`
	P50US     float64        `json:"p50_us"`
	P99US     float64        `json:"p99_us"`
	Failures  map[string]int `json:"failures"`
}

// remoteBenchOptions are the flags of `gym bench serve --remote`.
type remoteBenchOptions struct {
	remote, dns, envID string
	envs               int
	dur                time.Duration
}

// benchRemote steps o.envs envs spread over the replicas of o.remote for
// o.dur, each in its own goroutine, and times every step.
func benchRemote(ctx context.Context, o remoteBenchOptions) (benchRemoteResult, error) {
	res := benchRemoteResult{Remote: o.remote, EnvID: o.envID, Envs: o.envs}
	if o.envs < 1 {
		return res, fmt.Errorf("--envs %d: want at least 1", o.envs)
	}
	popts := serve.PoolOptions{Token: os.Getenv("GYM_SERVE_TOKEN")}
	if o.dns != "" {
		r, err := serve.ResolverAt(o.dns)
		if err != nil {
			return res, fmt.Errorf("--dns: %w", err)
		}
		popts.Resolver = r
	}
	pool := serve.NewPool(strings.Split(o.remote, ","), popts)
	envs := make([]*serve.RemoteEnv, 0, o.envs)
	defer func() {
		for _, e := range envs {
			e.Close()
		}
	}()
	for range o.envs {
		e, err := pool.Make(ctx, o.envID, nil)
		if err != nil {
			return res, fmt.Errorf("--remote %s: %w", o.remote, err)
		}
		envs = append(envs, e)
	}
	type sample struct {
		addr string
		d    time.Duration
	}
	all := make([][]sample, len(envs))
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, env := range envs {
		wg.Go(func() {
			errs[i] = newActor(env).run(ctx, 0, start.Add(o.dur), func(d time.Duration) {
				all[i] = append(all[i], sample{env.Server(), d})
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	byAddr := map[string][]time.Duration{}
	var ds []time.Duration
	for _, ss := range all {
		for _, s := range ss {
			byAddr[s.addr] = append(byAddr[s.addr], s.d)
			ds = append(ds, s.d)
		}
	}
	res.DurationS = elapsed.Seconds()
	res.Steps = len(ds)
	res.StepsPerS = float64(len(ds)) / elapsed.Seconds()
	res.P50US, res.P99US = percentile(ds, 50), percentile(ds, 99)
	for _, st := range pool.Stats() {
		r := benchReplica{Addr: st.Addr, Envs: st.Envs, Failures: st.Failures}
		if d := byAddr[st.Addr]; len(d) > 0 {
			r.Steps, r.StepsPerS = len(d), float64(len(d))/elapsed.Seconds()
			r.P50US, r.P99US = percentile(d, 50), percentile(d, 99)
		}
		res.Replicas = append(res.Replicas, r)
	}
	slices.SortFunc(res.Replicas, func(a, b benchReplica) int { return strings.Compare(a.Addr, b.Addr) })
	return res, nil
}

func printBenchRemote(w io.Writer, res benchRemoteResult) error {
	fmt.Fprintf(w, "%s on %s: %d envs for %.1fs\n\n", res.EnvID, res.Remote, res.Envs, res.DurationS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "replica\tenvs\tsteps\tsteps/s\tp50 µs\tp99 µs\tfailures\t")
	for _, r := range res.Replicas {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%d\t\n", r.Addr, r.Envs, r.Steps, r.StepsPerS, r.P50US, r.P99US, sumCounts(r.Failures))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%.0f\t%.0f\t%.0f\t\t\n", res.Envs, res.Steps, res.StepsPerS, res.P50US, res.P99US)
	return tw.Flush()
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
