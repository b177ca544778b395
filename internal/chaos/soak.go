package chaos

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/envgym/envgym/gym"
)

// sample is what the soak phase measures every SampleEvery resets.
type sample struct {
	reset     int
	pid       int // plugin process; plugin figures are fitted per process
	plugin    usage
	goroutine int64 // host goroutines
	hostFDs   int64
	hostRSS   int64 // KiB
	// contexts: Chromium renderers below the plugin; containers: the
	// plugin's Docker containers. -1 where not measurable.
	contexts, containers int64
	kinds                string // processKinds of the plugin's tree
}

// soakSteps are the steps played after each soak reset, so the env does
// some work per reset.
const soakSteps = 3

// soak resets the env SoakResets times without faults, playing a few
// steps each time, and fits the leak slopes. The first quarter (at most
// 100 resets) is warm-up and not sampled: a Go heap grows toward its
// collection target for the first few hundred resets, so short soaks
// overstate the RSS slope of a plugin that does not leak.
func (r *runner) soak(ctx context.Context) error {
	warm := min(100, r.cfg.SoakResets/4)
	var samples []sample
	for i := 0; i < warm+r.cfg.SoakResets; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := i - warm
		if n >= 0 && n%r.cfg.SampleEvery == 0 {
			samples = append(samples, r.sample(n))
		}
		opts := r.soakOptions(i)
		obs, err := r.reset(ctx, r.env, opts)
		if err != nil {
			return fmt.Errorf("soak: %w", err)
		}
		r.rep.SoakResets++
		for s := 0; s < soakSteps; s++ {
			a, err := r.act(ctx, obs)
			if err != nil {
				break
			}
			sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
			res, err := r.env.Step(sctx, a)
			cancel()
			if err != nil || res.Done() {
				if err == nil && res.Status.Infra() {
					r.rep.SpontaneousInfra++
					r.rep.problem("soak reset %d: %s without a fault: %.200q", i, res.Status, res.Observation.Text)
				}
				break
			}
			obs = res.Observation
		}
	}
	samples = append(samples, r.sample(r.cfg.SoakResets))
	r.fit(samples)
	return nil
}

// soakOptions picks seeds apart from the chaos episodes'.
func (r *runner) soakOptions(i int) gym.ResetOptions {
	return gym.ResetOptions{Seed: r.cfg.Seed + 1_000_000 + int64(i), TaskID: r.tasks[i%len(r.tasks)]}
}

func (r *runner) sample(reset int) sample {
	// Let finished goroutines of the last calls exit before counting.
	time.Sleep(time.Millisecond)
	pid := r.plugin.PID()
	self := os.Getpid()
	contexts, ok := browserContexts(pid)
	if !ok {
		contexts = -1
	}
	containers, ok := pluginContainers(context.Background(), pid)
	if !ok {
		containers = -1
	}
	return sample{
		contexts:   contexts,
		containers: containers,
		kinds:      processKinds(pid),
		reset:      reset,
		pid:        pid,
		plugin:     treeUsage(pid),
		goroutine:  int64(runtime.NumGoroutine()),
		hostFDs:    countFDs(self),
		hostRSS:    statusField(self, "VmRSS"),
	}
}

// LeakSample is one soak measurement, for plotting the curves the slopes
// summarise (a plateau and a steady climb can share a slope).
type LeakSample struct {
	Reset           int   `json:"reset"`
	PluginPID       int   `json:"plugin_pid"`
	RSSKiB          int64 `json:"rss_kib"`
	PSSKiB          int64 `json:"pss_kib"`
	Threads         int64 `json:"threads"`
	OpenFiles       int64 `json:"open_files"`
	Children        int64 `json:"children"`
	BrowserContexts int64 `json:"browser_contexts"` // -1: not measured
	Containers      int64 `json:"containers"`       // -1: not measured
	HostGoroutines  int64 `json:"host_goroutines"`
	HostOpenFiles   int64 `json:"host_open_files"`
	HostRSSKiB      int64 `json:"host_rss_kib"`
	// Processes counts the plugin's descendants by kind, e.g.
	// "Xvfb=1 chromium/renderer=5 xterm=1".
	Processes string `json:"processes"`
}

// fit fills the slopes of the report from the samples.
func (r *runner) fit(samples []sample) {
	r.rep.Samples = len(samples)
	r.rep.LeakSamples = make([]LeakSample, len(samples))
	for i, s := range samples {
		r.rep.LeakSamples[i] = LeakSample{Reset: s.reset, PluginPID: s.pid, RSSKiB: s.plugin.rssKiB, PSSKiB: s.plugin.pssKiB,
			Threads: s.plugin.threads, OpenFiles: s.plugin.fds, Children: s.plugin.children, BrowserContexts: s.contexts,
			Containers: s.containers, HostGoroutines: s.goroutine, HostOpenFiles: s.hostFDs, HostRSSKiB: s.hostRSS, Processes: s.kinds}
	}
	if len(samples) == 0 {
		return
	}
	last := samples[len(samples)-1]
	r.rep.PluginRSSKiB, r.rep.PluginPSSKiB, r.rep.PluginChildren = last.plugin.rssKiB, last.plugin.pssKiB, last.plugin.children
	x := make([]float64, len(samples))
	groups := make([]int, len(samples))
	for i, s := range samples {
		x[i], groups[i] = float64(s.reset), s.pid
	}
	col := func(f func(sample) int64) []float64 {
		out := make([]float64, len(samples))
		for i, s := range samples {
			out[i] = float64(f(s))
		}
		return out
	}
	per100 := func(y []float64, g []int) float64 { return round2(100 * slope(x, y, g)) }
	r.rep.RSSSlope = per100(col(func(s sample) int64 { return s.plugin.rssKiB }), groups)
	r.rep.PSSSlope = per100(col(func(s sample) int64 { return s.plugin.pssKiB }), groups)
	r.rep.ThreadsSlope = per100(col(func(s sample) int64 { return s.plugin.threads }), groups)
	r.rep.OpenFilesSlope = per100(col(func(s sample) int64 { return s.plugin.fds }), groups)
	r.rep.ChildrenSlope = per100(col(func(s sample) int64 { return s.plugin.children }), groups)
	r.rep.HostGoroutinesSlope = per100(col(func(s sample) int64 { return s.goroutine }), nil)
	r.rep.HostOpenFilesSlope = per100(col(func(s sample) int64 { return s.hostFDs }), nil)
	r.rep.HostRSSSlope = per100(col(func(s sample) int64 { return s.hostRSS }), nil)
	// Browser contexts and containers: fitted over the samples where they
	// could be measured, reported only where every sample could.
	measured := func(f func(sample) int64) *float64 {
		for _, s := range samples {
			if f(s) < 0 {
				return nil
			}
		}
		v := per100(col(f), groups)
		return &v
	}
	r.rep.BrowserContextsSlope = measured(func(s sample) int64 { return s.contexts })
	r.rep.ContainersSlope = measured(func(s sample) int64 { return s.containers })
	if r.rep.BrowserContextsSlope != nil {
		r.rep.PluginBrowserContexts = last.contexts
	}
	if r.rep.ContainersSlope != nil {
		r.rep.PluginContainers = last.containers
	}
}

// slope is the least-squares slope of y on x. With groups, each group
// (plugin process) gets its own intercept and the slope is shared, so a
// restart's drop in memory is not mistaken for a trend.
func slope(x, y []float64, groups []int) float64 {
	type acc struct{ n, sx, sy float64 }
	means := map[int]*acc{}
	g := func(i int) int {
		if groups == nil {
			return 0
		}
		return groups[i]
	}
	for i := range x {
		a := means[g(i)]
		if a == nil {
			a = &acc{}
			means[g(i)] = a
		}
		a.n++
		a.sx += x[i]
		a.sy += y[i]
	}
	var sxy, sxx float64
	for i := range x {
		a := means[g(i)]
		dx := x[i] - a.sx/a.n
		sxy += dx * (y[i] - a.sy/a.n)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

func round2(v float64) float64 {
	if v < 0 {
		return -round2(-v)
	}
	return float64(int64(v*100+0.5)) / 100
}
