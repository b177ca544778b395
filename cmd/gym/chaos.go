package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/internal/chaos"
	"github.com/envgym/envgym/internal/plot"
	"github.com/envgym/envgym/plugins"
)

// chaosSummary is the JSON of `gym chaos --json`.
type chaosSummary struct {
	Seed     int64                   `json:"seed"`
	Episodes int                     `json:"episodes_per_env"`
	Envs     map[string]chaos.Report `json:"envs"`
	Errors   map[string]string       `json:"errors,omitempty"` // envs that could not be run to the end
	OK       bool                    `json:"ok"`
}

type chaosOptions struct {
	episodes    int
	envs        []string
	seed        int64
	faultRate   float64
	faults      []string
	stepTimeout time.Duration
	pingTimeout time.Duration
	soak        int
	out         string
	envOptions  []string
	samples     string // CSV of the soak's leak samples
	plot        string // PNG of the soak's memory curves
}

func newChaosCmd(a *app) *cobra.Command {
	var o chaosOptions
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Kill, hang and OOM plugin processes at random points; check nothing crashes, leaks or is lost",
		Long: `Chaos plays --episodes episodes of each env through the plugin host, with a
random policy (half the time the env's oracle, where it has one), and in
about --fault-rate of them injects a fault into the plugin at a random step:

  kill        SIGKILL the plugin process (before a step, or while it runs)
  stop        SIGSTOP it: the step times out, the host's health check kills it
  oom         lower its memory cgroup limit to just above its usage and add a
              pressure process the OOM killer spares: the kernel kills the
              plugin or a direct child (Chromium's browser, Xvfb), the rest
              of its tree exempt (needs cgroup v1 memory limits, gym as root)
  kill_child  SIGKILL a child of the plugin: Chromium, Xvfb, a sandboxed tool
  kill_container
              SIGKILL every Docker container the plugin owns (swe with
              the docker sandbox: the episode's and the warm pool)
  stop_container
              pause (freeze) them instead
              (only for envs whose plugin has children)

Every episode is recorded to a trajectory file; at the end each episode that
ended is read back (manifest, every step line, step counts, final status).
Then a fault-free soak of --soak resets samples the plugin's process tree
(RSS, threads, open files, children) and this process (goroutines, open
files, RSS) and fits leak slopes per 100 resets by least squares.

Per env it reports faults, host_crashes (panics, or errors escaping Step
instead of a status: must be 0), lost_episodes (ended but not intact on
disk: must be 0), faults_unreported (an affected step that did not say
CRASHED, TIMEOUT or ENV_ERROR: must be 0), reset_failures (the reset after
a fault must work: 0), and the slopes per 100 resets: plugin tree RSS
(rss_slope_kib_per_100_resets), PSS, threads, open files, child processes,
Chromium renderers (browser_contexts_..., where a browser runs), the
plugin's Docker containers (containers_..., where the engine answers), and
the host's goroutines, open files and RSS.
With --json stdout is one object: seed, episodes_per_env, envs (by env id),
errors, ok. --samples FILE.csv keeps every soak sample (one row per env and
sample) and --plot FILE.png draws each env's plugin-tree RSS and PSS over
the soak: a plateau and a steady climb can share a slope.

Exit code 1 when any env broke a promise or could not be run. Interrupted
(SIGINT, SIGTERM), it still reports the episodes that ran, with the env's
error saying so.`,
		Example: `  gym chaos --envs text/maze-v0 --episodes 200
  gym chaos --episodes 1000 --json > chaos.json
  gym chaos --envs gui/phone-v0 --episodes 100 --soak 1000 --samples phone.csv --plot phone.png
  gym chaos --envs search/fictional-v0 --env-options 'search/fictional-v0={"passages":500}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runChaos(cmd, a, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.episodes, "episodes", 100, "episodes per env")
	f.StringSliceVar(&o.envs, "envs", nil, "env ids, comma-separated (default: every env of every installed plugin)")
	f.Int64Var(&o.seed, "seed", 1, "seed of the fault schedule and of the episodes")
	f.Float64Var(&o.faultRate, "fault-rate", 0.15, "share of episodes that get a fault")
	f.StringSliceVar(&o.faults, "faults", nil, "faults to draw from: kill, stop, oom, kill_child, kill_container, stop_container (default: all that apply)")
	f.DurationVar(&o.stepTimeout, "step-timeout", 10*time.Second, "deadline of each step (a stopped plugin costs this)")
	f.DurationVar(&o.pingTimeout, "ping-timeout", time.Second, "the host's health check deadline")
	f.IntVar(&o.soak, "soak", -1, "resets of the fault-free leak soak per env (-1: --episodes; 0: none)")
	f.StringVar(&o.out, "out", "", "keep the trajectories in this directory (default: a temporary one, removed)")
	f.StringVar(&o.samples, "samples", "", "write the soak's leak samples to this CSV file")
	f.StringVar(&o.plot, "plot", "", "draw the soak's memory curves (RSS, PSS per env) into this PNG file")
	f.StringArrayVar(&o.envOptions, "env-options", nil, "ID=JSON options for making env ID (repeatable)")
	return cmd
}

func runChaos(cmd *cobra.Command, a *app, o chaosOptions) error {
	ctx := cmd.Context()
	if o.episodes < 1 {
		return fmt.Errorf("--episodes %d: want at least 1", o.episodes)
	}
	var faults []chaos.Fault
	for _, s := range o.faults {
		fl, err := chaos.ParseFault(s)
		if err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
		faults = append(faults, fl)
	}
	envOpts := map[string]map[string]any{}
	for _, kv := range o.envOptions {
		id, js, ok := strings.Cut(kv, "=")
		var m map[string]any
		if !ok {
			return fmt.Errorf("--env-options %q: want ID=JSON", kv)
		}
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return fmt.Errorf("--env-options %s: options must be a JSON object: %w", id, err)
		}
		envOpts[id] = m
	}
	dir := o.out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gym-chaos-")
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	host := plugins.New(plugins.Config{Dir: a.pluginDir, PingTimeout: o.pingTimeout})
	defer host.Close()
	for _, err := range host.Problems {
		a.warn("%v", err)
	}
	ids := o.envs
	if len(ids) == 0 {
		for _, p := range host.Plugins() {
			ids = append(ids, p.Manifest().Envs...)
		}
		sort.Strings(ids)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no envs to run: no plugins in %s (gym plugin install BINARY)", a.pluginDir)
	}
	soak := o.soak
	switch {
	case soak < 0:
		soak = o.episodes
	case soak == 0:
		soak = -1 // chaos.Config: negative is none
	}
	rate := o.faultRate
	if rate == 0 {
		rate = -1 // chaos.Config: negative is none
	}
	sum := chaosSummary{Seed: o.seed, Episodes: o.episodes, Envs: map[string]chaos.Report{}, Errors: map[string]string{}, OK: true}
	for _, id := range ids {
		rep, err := chaos.Run(ctx, chaos.Config{
			Host: host, EnvID: id, Options: envOpts[id], Dir: dir,
			Episodes: o.episodes, Seed: o.seed, FaultRate: rate, Faults: faults,
			StepTimeout: o.stepTimeout, SoakResets: soak, Progress: a.stderr,
		})
		if err != nil {
			sum.Errors[id] = err.Error()
			sum.OK = false
		}
		if rep.Episodes > 0 || err == nil {
			sum.Envs[id] = rep
			sum.OK = sum.OK && rep.OK()
		}
		if ctx.Err() != nil {
			// Interrupted (SIGINT/SIGTERM, or a timeout around the run):
			// the episodes that ran are still reported, checked on disk.
			sum.Errors[id] = fmt.Sprintf("interrupted after %d episodes: %v", rep.Episodes, ctx.Err())
			break
		}
	}
	if o.samples != "" {
		if err := writeLeakSamples(o.samples, sum, ids); err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := plotLeakSamples(o.plot, sum, ids); err != nil {
			return err
		}
	}
	if a.json {
		if err := a.writeJSON(sum); err != nil {
			return err
		}
	} else {
		printChaos(a, sum, ids)
	}
	if !sum.OK {
		return &exitError{code: 1, err: fmt.Errorf("chaos: a promise was broken or an env could not be run (see above)")}
	}
	return nil
}

func printChaos(a *app, s chaosSummary, ids []string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tEPISODES\tFAULTS\tREPORTED\tUNREPORTED\tHOST CRASHES\tLOST\tRESET FAIL\tRSS KiB/100\tFDS/100\tCHILDREN/100\tCONTEXTS/100\tCONTAINERS/100\tHOST GOROUTINES/100\tOK")
	for _, id := range ids {
		r, ok := s.Envs[id]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%s\t%s\t%.2f\t%s\n", id, r.Episodes, r.Faults,
			r.Reported+r.BetweenEpisodes, r.Unreported, r.HostCrashes, r.LostEpisodes, r.ResetFailures,
			r.RSSSlope, r.OpenFilesSlope, r.ChildrenSlope, optSlope(r.BrowserContextsSlope), optSlope(r.ContainersSlope),
			r.HostGoroutinesSlope, yesNo(r.OK()))
	}
	tw.Flush()
	for _, id := range ids {
		if r, ok := s.Envs[id]; ok {
			kinds := make([]string, 0, len(r.FaultsByKind))
			for k, n := range r.FaultsByKind {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
			sort.Strings(kinds)
			fmt.Fprintf(a.stdout, "%s: faults %s; affected steps %v\n", id, strings.Join(kinds, ", "), r.AffectedStatuses)
			for _, p := range r.Problems {
				fmt.Fprintf(a.stdout, "  problem: %s\n", p)
			}
		}
		if e, ok := s.Errors[id]; ok {
			fmt.Fprintf(a.stdout, "%s: error: %s\n", id, e)
		}
	}
}

// optSlope prints a slope that may not be measurable ("-").
func optSlope(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

// writeLeakSamples writes every env's soak samples as CSV rows.
func writeLeakSamples(path string, s chaosSummary, ids []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--samples: %w", err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"env_id", "reset", "plugin_pid", "rss_kib", "pss_kib", "threads", "open_files", "children",
		"browser_contexts", "containers", "host_goroutines", "host_open_files", "host_rss_kib", "processes"})
	for _, id := range ids {
		for _, x := range s.Envs[id].LeakSamples {
			row := []string{id}
			for _, v := range []int64{int64(x.Reset), int64(x.PluginPID), x.RSSKiB, x.PSSKiB, x.Threads, x.OpenFiles, x.Children,
				x.BrowserContexts, x.Containers, x.HostGoroutines, x.HostOpenFiles, x.HostRSSKiB} {
				row = append(row, strconv.FormatInt(v, 10))
			}
			w.Write(append(row, x.Processes))
		}
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("--samples: %w", err)
	}
	return nil
}

// plotLeakSamples draws each env's plugin-tree RSS and PSS (MiB) over the
// soak's resets.
func plotLeakSamples(path string, s chaosSummary, ids []string) error {
	var series []plot.Series
	for _, id := range ids {
		xs := s.Envs[id].LeakSamples
		if len(xs) == 0 {
			continue
		}
		rss := plot.Series{Name: id + " RSS MiB"}
		pss := plot.Series{Name: id + " PSS MiB"}
		for _, x := range xs {
			rss.X, rss.Y = append(rss.X, float64(x.Reset)), append(rss.Y, float64(x.RSSKiB)/1024)
			pss.X, pss.Y = append(pss.X, float64(x.Reset)), append(pss.Y, float64(x.PSSKiB)/1024)
		}
		series = append(series, rss, pss)
	}
	if len(series) == 0 {
		return fmt.Errorf("--plot: no soak samples to draw (--soak 0?)")
	}
	if err := plot.Write(path, "gym chaos soak: plugin process tree memory", "soak resets", series); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}
