package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/envs/gui"
	"github.com/envgym/envgym/envs/search"
	"github.com/envgym/envgym/envs/swe"
	"github.com/envgym/envgym/envs/web"
)

// benchEnvCmds are the benchmarks of env families, run in process.
func benchEnvCmds(a *app) []*cobra.Command {
	return []*cobra.Command{newBenchWebCmd(a), newBenchSearchCmd(a), newBenchGUICmd(a), newBenchSWECmd(a)}
}

func newBenchSWECmd(a *app) *cobra.Command {
	var cfg swe.BenchConfig
	cmd := &cobra.Command{
		Use:   "swe",
		Short: "SWE sandbox start/ready/exec latency per backend (namespace, Docker) and oracle episodes",
		Long: `Bench swe times, per sandbox backend: a cold sandbox start, a Reset to the first
observation (ready_p50_ms_*), bash("true") (exec_p50_ms_*), and full oracle
episodes on generated tasks (episode_p50_s). The Docker backend needs the
engine that scripts/setup.sh starts.`,
		Example: `  gym bench swe --json
  gym bench swe --backends namespace --episodes 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Progress = cmd.ErrOrStderr()
			res, err := swe.Bench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench swe: %w", err)
			}
			return a.printFigures(res)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Backends, "backends", nil, "namespace, docker (default both)")
	// Defaults give every figure in about a minute; 0 skips a part.
	f.IntVar(&cfg.Starts, "starts", 5, "cold sandbox starts per backend (0 skips)")
	f.IntVar(&cfg.Resets, "resets", 5, "timed resets per backend (0 skips)")
	f.IntVar(&cfg.Execs, "execs", 30, "timed bash(\"true\") per backend (0 skips)")
	f.IntVar(&cfg.Episodes, "episodes", 3, "oracle episodes per backend (0 skips)")
	return cmd
}

func newBenchGUICmd(a *app) *cobra.Command {
	var cfg gui.BenchConfig
	cmd := &cobra.Command{
		Use:   "gui",
		Short: "GUI env step/reset latency for the phone and desktop backends (needs Chromium and Xvfb)",
		Long: `Bench gui plays oracle episodes in this process on gui/phone-v0 (its own
headless Chromium) and gui/desktop-v0 (its own Xvfb) and reports the step
median (action, settle, state read, screenshot), the reset median and the
screenshot median of each backend.`,
		Example: `  gym bench gui
  gym bench gui --episodes 20 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := gui.Bench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench gui: %w", err)
			}
			return a.printFigures(res)
		},
	}
	cmd.Flags().IntVar(&cfg.Episodes, "episodes", 0, "oracle episodes per backend (0: one per task)")
	return cmd
}

func newBenchWebCmd(a *app) *cobra.Command {
	var cfg web.BenchConfig
	var options string
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Web env step/reset latency, throughput and memory (needs Chromium)",
		Long: `Bench web runs a web env in this process with its own headless Chromium and
measures the step median (click, settle, observation), the reset median,
actions/s with 1 and 4 concurrent envs, and the Chromium memory one env adds.`,
		Example: `  gym bench web
  gym bench web --env web/click-checkboxes-v0 --steps 500 --duration 5s --json
  # navigate at every reset instead of loading start pages ahead
  gym bench web --options '{"preload_start":false}'
  # the full browser instead of the headless shell
  gym bench web --chromium /usr/lib/chromium/chromium`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if options != "" {
				if err := json.Unmarshal([]byte(options), &cfg.MakeOptions); err != nil {
					return fmt.Errorf("--options: want a JSON object such as '{\"preload_start\":false}': %w", err)
				}
			}
			res, err := web.Bench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench web: %w", err)
			}
			return a.printFigures(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.EnvID, "env", "", "web env id (default web/click-checkboxes-v0)")
	f.IntVar(&cfg.Steps, "steps", 0, "timed steps (0: 200)")
	f.IntVar(&cfg.Resets, "resets", 0, "timed resets (0: 50)")
	f.DurationVar(&cfg.Duration, "duration", 0, "length of each throughput run (0: 3s)")
	f.StringVar(&cfg.Options.ExecPath, "chromium", "", "Chromium binary (default: the headless shell, else the full browser)")
	f.StringVar(&options, "options", "", "the env's make options, a JSON object (envs/web/README.md lists them)")
	return cmd
}

func newBenchSearchCmd(a *app) *cobra.Command {
	var cfg search.BenchConfig
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search env index build time, search latency and oracle steps/s",
		Long: `Bench search generates a fictional knowledge base, builds its BM25 index
(timed, unless --cache-dir holds one already), times top-k searches and
open steps, and plays oracle episodes for steps/s and exact match.`,
		Example: `  gym bench search
  gym bench search --passages 10000 --queries 500 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !a.json && a.stderrIsTerminal() {
				cfg.Progress = a.stderr
			}
			res, err := search.Bench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench search: %w", err)
			}
			return a.printFigures(res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Passages, "passages", 0, "generated corpus size (0: 100000)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "knowledge base seed")
	f.IntVar(&cfg.Queries, "queries", 0, "timed searches (0: 2000)")
	f.IntVar(&cfg.Episodes, "episodes", 0, "oracle episodes (0: 200)")
	f.IntVar(&cfg.TopK, "top-k", 0, "results per search (0: 10)")
	f.StringVar(&cfg.CacheDir, "cache-dir", "", "index directory to build or reuse (default: a fresh temporary one)")
	return cmd
}

// printFigures prints a benchmark result: as it is with --json, else as a
// two-column table of its JSON fields.
func (a *app) printFigures(res any) error {
	if a.json {
		return a.writeJSON(res)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		if f, ok := v.(float64); ok {
			v = formatFigure(f)
		}
		fmt.Fprintf(tw, "%s\t%v\n", k, v)
	}
	return tw.Flush()
}

func formatFigure(f float64) string {
	switch {
	case f == float64(int64(f)):
		return fmt.Sprintf("%d", int64(f))
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	default:
		return fmt.Sprintf("%.3g", f)
	}
}
