package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
	"github.com/envgym/envgym/sdk/envtest"
)

func newCheckCmd(a *app) *cobra.Command {
	var cfg envtest.Config
	var interp []string
	var options string
	cmd := &cobra.Command{
		Use:   "check PLUGIN_BINARY...",
		Short: "Run the conformance suite against every env a plugin binary serves",
		Long: `Check installs each PLUGIN_BINARY into a temporary plugin directory (the
real one is left alone) with the sandbox of the plugin installed in
--plugin-dir from a binary of that name (the default sandbox if none),
starts it the way ` + "`gym run`" + ` would, and runs the conformance suite (package sdk/envtest) against every env it serves:

  spec                  the spec is complete (id, version, tasks)
  step_before_reset     Step before Reset is a clear error
  determinism           same seed + same actions -> same observations and rewards
                        (a reset that depends on the clock or a global generator
                        is named as the one cause)
  seed_sensitivity      different seeds give different episodes (an env that
                        ignores its seed fails; Spec.SeedFree opts out)
  reset_isolation       nothing leaks from one episode into the next
  invalid_actions       empty, huge, binary and unicode garbage gives
                        INVALID_ACTION, never a crash
  step_after_done       Step after the episode ended is a clear error
  concurrent_instances  instances do not share state
  close_releases        Close releases goroutines, files and child processes
                        (of the host and of the plugin process)
  oracle_solves         (--oracle) the env's oracle solves the first seeds
A check can pass with a warning (WARN): a spec without MaxSteps, or a check
that could not judge. -v prints whole observations in diffs, and every
warning; --step-timeout bounds each Reset and Step (a hanging env fails in
seconds instead of the host's minute).

It prints a table (env, check, PASS/FAIL, time, detail), or with --json a
JSON array with one report per env. The exit code is 1 when any check
fails, and the failing checks are named on stderr.`,
		Example: `  gym check bin/gym-plugin-text
  gym check examples/python/guess/main.py
  gym check bin/gym-plugin-guess --seeds 5
  gym check bin/gym-plugin-swe --options '{"sandbox":"docker"}'
  gym check bin/gym-plugin-* --json | jq '.[] | select(.ok | not)'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var envOpts map[string]any
			if options != "" {
				if err := json.Unmarshal([]byte(options), &envOpts); err != nil {
					return fmt.Errorf("--options: want a JSON object such as '{\"sandbox\":\"docker\"}': %w", err)
				}
			}
			var reports []checkReport
			for _, bin := range args {
				rs, err := checkBinary(cmd.Context(), bin, interp, installedSandbox(a.pluginDir, bin), envOpts, cfg)
				if err != nil {
					return err
				}
				reports = append(reports, rs...)
			}
			if a.json {
				if err := a.writeJSON(reports); err != nil {
					return err
				}
			} else if err := printChecks(a, reports); err != nil {
				return err
			}
			var failed []string
			for _, r := range reports {
				for _, name := range r.Failed() {
					failed = append(failed, r.EnvID+": "+name)
				}
			}
			if len(failed) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("check failed: %s", strings.Join(failed, ", "))}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Seeds, "seeds", 0, "seeds per determinism check (0: the suite's default, 3)")
	cmd.Flags().BoolVarP(&cfg.Verbose, "verbose", "v", false, "whole observations in the diffs of failed checks, and every line of every detail")
	cmd.Flags().DurationVar(&cfg.StepTimeout, "step-timeout", 0, "limit on each Reset and Step of the suite, e.g. 5s while developing (0: the host's, a minute unless the env's spec asks for more)")
	cmd.Flags().BoolVar(&cfg.Oracle, "oracle", false, "also check that the env's oracle solves the first seeds (envs without an oracle skip it)")
	cmd.Flags().IntVar(&cfg.MaxSteps, "max-steps", 0, "steps per played episode (0: min(the env's MaxSteps, 60))")
	cmd.Flags().StringVar(&options, "options", "", "options every env is made with, a JSON object (each env's README lists them), e.g. '{\"sandbox\":\"docker\"}' for swe's Docker backend")
	cmd.Flags().StringSliceVar(&interp, "interpreter", nil, "run PLUGIN as a script with this interpreter (default for .py files: "+plugins.DefaultPython+")")
	return cmd
}

// checkReport is one env's report in `gym check --json`.
type checkReport struct {
	envtest.Report
	Plugin string `json:"plugin"`
	Binary string `json:"binary"`
	OK     bool   `json:"ok"`
}

// installedSandbox is the sandbox of the plugin installed in dir from a
// binary of bin's name (swe needs root and Docker, browsers more memory),
// so that a check runs the plugin as `gym run` would; else the default.
func installedSandbox(dir, bin string) plugins.Sandbox {
	ms, _ := plugins.Discover(dir)
	for _, m := range ms {
		if filepath.Base(m.Binary) == filepath.Base(bin) && len(m.Interpreter) == 0 {
			return m.Sandbox
		}
	}
	return plugins.Sandbox{}
}

// checkBinary installs bin into a temporary plugin directory, with the
// sandbox sb, and runs the suite on each env it serves, made with opts.
func checkBinary(ctx context.Context, bin string, interp []string, sb plugins.Sandbox, opts map[string]any, cfg envtest.Config) (_ []checkReport, err error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	dir, err := os.MkdirTemp("", "gym-check-")
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	m, err := plugins.Install(ctx, bin, dir, plugins.InstallOptions{Interpreter: interp, Sandbox: sb})
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	host := plugins.New(plugins.Config{Dir: dir})
	defer host.Close()
	if len(host.Problems) > 0 {
		return nil, fmt.Errorf("check: %w", errors.Join(host.Problems...))
	}
	p, ok := host.Plugin(m.Envs[0])
	if !ok {
		return nil, fmt.Errorf("check: installed plugin %s not found in %s", m.Name, dir)
	}
	var out []checkReport
	for _, id := range m.Envs {
		newEnv := func(ctx context.Context) (gym.Env, error) {
			env, err := host.Make(ctx, id, opts)
			if err != nil {
				return nil, err
			}
			return env, nil
		}
		c := cfg
		c.Probe = func() envtest.ProcessStats { return hostAndPluginStats(p) }
		rep := envtest.Run(ctx, newEnv, c)
		if rep.EnvID == "" {
			rep.EnvID = id
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, checkReport{Report: rep, Plugin: m.Name, Binary: bin, OK: rep.OK()})
	}
	return out, nil
}

// hostAndPluginStats adds the plugin process's open files and children to
// this process's goroutines, files and children, so the leak check sees
// both sides. The plugin's threads are left out: Go never gives threads
// back, so they are no measure of leaks.
func hostAndPluginStats(p *plugins.Plugin) envtest.ProcessStats {
	s := envtest.SelfStats()
	if pid := p.PID(); pid > 0 {
		ps := envtest.PIDStats(pid)
		s.OpenFiles += ps.OpenFiles
		s.Children += ps.Children
	}
	return s
}

func printChecks(a *app, reports []checkReport) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tCHECK\tRESULT\tTIME\tDETAIL")
	var notes []string
	for _, r := range reports {
		for _, c := range r.Checks {
			res, detail := "PASS", c.Detail
			switch {
			case !c.Passed:
				res = "FAIL"
			case c.Warning != "":
				res, detail = "WARN", c.Warning
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0fms\t%s\n", r.EnvID, c.Name, res, c.DurationMS, firstLine(detail, 120))
			// The table shows a line; the whole message (a diff, the hint of
			// gym.Invalid) follows it.
			if detail != "" && detail != firstLine(detail, 120) {
				notes = append(notes, fmt.Sprintf("%s %s %s:\n  %s", res, r.EnvID, c.Name, strings.ReplaceAll(detail, "\n", "\n  ")))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(a.stdout, "\n%s\n", n)
	}
	return nil
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
