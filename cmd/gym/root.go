package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/envgym/envgym/plugins"
)

// app holds what every command shares: global flags and the streams.
type app struct {
	pluginDir  string
	devPlugins []string // --plugin: files installed into a temporary plugin directory
	cleanup    []func()
	json       bool
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

// exitError ends the program with code after its message (if any) has
// been printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit code. Every
// host a command opens is closed before run returns, so no plugin
// process outlives it, interrupted or not.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	for _, f := range a.cleanup {
		f()
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "error: %v\n", ee.err)
		}
		return ee.code
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "interrupted: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "gym",
		Short: "Environments for LLM agents, each in its own sandboxed plugin process",
		Long: `gym runs environments ("envs") for training and evaluating LLM agents.

Every env lives in a plugin: a separate binary the host starts in its own
sandboxed process (process group, no network unless asked, cgroup memory and
process limits where the machine allows) and talks to over go-plugin/gRPC.
Plugins are installed into a plugin directory with their sha256; a binary
that changed since it was installed is refused.

Env ids look like family/name-v0 (text/maze-v0). An env has tasks (easy,
medium, hard...) and is deterministic under a seed. Each step has a status:
OK, INVALID_ACTION (the agent's fault), or ENV_ERROR / TIMEOUT / CRASHED
(the infrastructure's fault, which trainers should mask from learning).

Typical session:

  gym plugin install bin/gym-plugin-text       # trust a plugin binary
  gym list                                     # envs, tasks, plugins, sandbox
  gym run text/maze-v0 --policy oracle --episodes 6 --out runs/maze.jsonl
  gym check bin/gym-plugin-text                # conformance suite
  gym bench plugin                             # cost of the plugin boundary

Exit codes: 0 success; 1 an error, or a failed check; 130 interrupted
(SIGINT/SIGTERM: plugin processes are stopped before gym exits).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.pluginDir, "plugin-dir", plugins.DefaultDir(),
		"directory of installed plugins (env GYM_PLUGIN_DIR)")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print machine-readable JSON on stdout instead of tables")
	root.PersistentFlags().StringSliceVar(&a.devPlugins, "plugin", nil,
		"use this plugin file (a binary or a .py) as it is now instead of the installed plugins (repeatable): the dev loop without gym plugin install")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return a.useDevPlugins(cmd.Context()) }
	root.AddCommand(newPluginCmd(a), newListCmd(a), newRunCmd(a), newCheckCmd(a), newBenchCmd(a), newServeCmd(a), newReplayCmd(a), newDoctorCmd(a), newChaosCmd(a), newTrainCmd(a), newWorldModelCmd(a), newExperimentCmd(a))
	root.AddCommand(newEvalCmd(a))
	root.AddCommand(newMCPCmd(a))
	root.AddCommand(newViewCmd(a))
	root.AddCommand(newInitCmd(a))
	root.AddCommand(newHealthcheckCmd(a))
	return root
}

// openHost discovers the plugins of the plugin directory and reports
// manifests that failed to load as warnings. Close the host when done.
func (a *app) openHost() *plugins.Host {
	h := plugins.New(plugins.Config{Dir: a.pluginDir})
	for _, err := range h.Problems {
		a.warn("%v", err)
	}
	for _, p := range h.Plugins() {
		if why := p.Manifest().StaleSource(); why != "" {
			a.warn("%s", why)
		}
	}
	return h
}

func (a *app) warn(format string, args ...any) {
	fmt.Fprintf(a.stderr, "warning: "+format+"\n", args...)
}

// writeJSON prints v as indented JSON on stdout.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}

// stderrIsTerminal reports whether progress bars make sense.
func (a *app) stderrIsTerminal() bool {
	f, ok := a.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// useDevPlugins installs the --plugin files into a temporary plugin
// directory that the command then uses instead of the installed one, each
// with the sandbox of the installed plugin of the same binary name (if
// any), so it runs as an install of it would.
func (a *app) useDevPlugins(ctx context.Context) error {
	if len(a.devPlugins) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "gym-dev-plugins-")
	if err != nil {
		return fmt.Errorf("--plugin: %w", err)
	}
	a.cleanup = append(a.cleanup, func() { os.RemoveAll(dir) })
	for _, bin := range a.devPlugins {
		if _, err := plugins.Install(ctx, bin, dir, plugins.InstallOptions{Sandbox: installedSandbox(a.pluginDir, bin)}); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--plugin %s: %w", bin, err)}
		}
	}
	a.pluginDir = dir
	return nil
}
