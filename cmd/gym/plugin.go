package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/plugins"
)

func newPluginCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Manage installed plugins",
		Long: `Manage the plugins of the plugin directory (--plugin-dir, env GYM_PLUGIN_DIR).

Each plugin lives in DIR/NAME/ as its binary and a plugin.json manifest
(name, version, env ids, sha256, sandbox policy).`,
		// An unknown subcommand (gym plugin uninstall) is an error, not help
		// and exit code 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPluginInstallCmd(a), newPluginListCmd(a), newPluginRemoveCmd(a), newPluginReinstallCmd(a), &cobra.Command{
		Use:   "dir",
		Short: "Print the plugin directory in use",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.stdout, a.pluginDir)
			return err
		},
	})
	return cmd
}

// installed is the JSON `gym plugin install --json` prints.
type installed struct {
	plugins.Manifest
	ManifestPath string `json:"manifest_path"`
}

func newPluginInstallCmd(a *app) *cobra.Command {
	var opts plugins.InstallOptions
	cmd := &cobra.Command{
		Use:   "install BINARY",
		Short: "Trust a plugin binary: copy it into the plugin directory and write its manifest",
		Long: `Install copies BINARY into PLUGIN_DIR/NAME/, starts it once to ask which
envs it serves, and writes PLUGIN_DIR/NAME/plugin.json with the binary's
sha256 and the sandbox it asks for.

Installing is the moment of trust: from then on the host refuses to start
any binary whose checksum differs from the manifest. Reinstall after
rebuilding a plugin.

The sandbox defaults are the strictest: no network (a private network
namespace with loopback only), the host's files read-only with home
directories and /tmp hidden (a mount namespace), 2048 MiB of memory and 512
processes (enforced where cgroups are writable). Loosen them with the flags.`,
		Example: `  # the text maze envs, with default (strict) sandbox
  gym plugin install bin/gym-plugin-text

  # a web env that needs the network and more memory
  gym plugin install bin/gym-plugin-web --network --memory-mb 4096 --max-pids 1024

  # a Python env: the script's whole directory is installed and checksummed
  gym plugin install examples/python/guess/main.py --interpreter /usr/bin/python3

  # install elsewhere, and read the manifest as JSON
  gym --plugin-dir /tmp/plugins plugin install bin/gym-plugin-guess --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := plugins.Install(cmd.Context(), args[0], a.pluginDir, opts)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(installed{Manifest: m, ManifestPath: m.Path()})
			}
			s := m.Sandbox.Limits()
			fmt.Fprintf(a.stdout, "installed plugin %s %s into %s\n", m.Name, m.Version, filepath.Dir(m.Path()))
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "  binary\t%s\n", m.BinaryPath())
			fmt.Fprintf(tw, "  sha256\t%s\n", m.SHA256)
			fmt.Fprintf(tw, "  envs\t%s\n", strings.Join(m.Envs, ", "))
			fmt.Fprintf(tw, "  sandbox\tnetwork=%s host_files=%s docker=%s root=%s memory=%d MiB max_pids=%d\n", yesNo(s.Network), yesNo(m.Sandbox.HostFiles), yesNo(s.Docker), yesNo(s.Root), s.MemoryMB, s.MaxPids)
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", `plugin name: 1-64 of a-z 0-9 . _ -, starting with a letter or digit, not "plugins" (default: the binary's name without "gym-plugin-")`)
	f.StringVar(&opts.Version, "version", "", "plugin version (default: the version of the first env it serves)")
	f.BoolVar(&opts.Sandbox.Network, "network", false, "let the plugin reach the network (default: loopback only)")
	f.BoolVar(&opts.Sandbox.HostFiles, "host-files", false, "share the host's files with the plugin as they are (default: a mount namespace with the host read-only, home dirs and /tmp hidden): for debugging a plugin's sandbox")
	f.BoolVar(&opts.Sandbox.Docker, "docker", false, "let the plugin reach the Docker engine's socket (hidden by default: Docker is root on the host; only for plugins that run containers, like swe)")
	f.BoolVar(&opts.Sandbox.Root, "root", false, "run the plugin as root of a user namespace of its own: root over its own mounts and namespaces, an unprivileged uid of its own on the host (default: that uid, no capabilities; swe's namespace backend needs root for its own sandboxes)")
	f.StringSliceVar(&opts.Sandbox.Env, "env", nil, "host environment variables to pass besides PATH, LANG, TZ, TERM and LC_* (default: none; API keys and tokens stay with the host)")
	f.IntVar(&opts.Sandbox.MemoryMB, "memory-mb", 0, fmt.Sprintf("memory limit in MiB (0: %d)", plugins.DefaultMemoryMB))
	f.IntVar(&opts.Sandbox.MaxPids, "max-pids", 0, fmt.Sprintf("process limit (0: %d)", plugins.DefaultMaxPids))
	f.StringSliceVar(&opts.Interpreter, "interpreter", nil, "run BINARY as a script with this interpreter (e.g. /usr/bin/python3)")
	f.BoolVar(&opts.Replace, "replace", false, "take over env ids another installed plugin serves (that plugin is removed); without it such an install is refused")
	return cmd
}

// pluginRow is one line of gym plugin list.
type pluginRow struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Kind    string   `json:"kind"` // "binary" or the interpreter
	Envs    []string `json:"envs"`
	SHA256  string   `json:"sha256"`
	Source  string   `json:"source,omitempty"`
	Stale   string   `json:"stale,omitempty"` // why the source differs from the installed copy
	Dir     string   `json:"dir"`
}

func newPluginListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the installed plugins: envs, checksum, where each was installed from, and whether that source changed since",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ms, problems := plugins.Discover(a.pluginDir)
			for _, err := range problems {
				a.warn("%v", err)
			}
			rows := []pluginRow{}
			for _, m := range ms {
				kind := "binary"
				if len(m.Interpreter) > 0 {
					kind = strings.Join(m.Interpreter, " ")
				}
				rows = append(rows, pluginRow{Name: m.Name, Version: m.Version, Kind: kind, Envs: m.Envs, SHA256: m.SHA256,
					Source: m.Source, Stale: m.StaleSource(), Dir: filepath.Dir(m.Path())})
			}
			if a.json {
				return a.writeJSON(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tENVS\tSHA256\tSOURCE")
			for _, r := range rows {
				src := r.Source
				if r.Stale != "" {
					src += " (changed since install: gym plugin reinstall " + r.Name + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.12s\t%s\n", r.Name, r.Version, r.Kind, len(r.Envs), r.SHA256, src)
			}
			return tw.Flush()
		},
	}
}

func newPluginRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"uninstall"},
		Short:   "Remove an installed plugin (its folder in the plugin directory)",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := installedPlugin(a, args[0])
			if err != nil {
				return err
			}
			if err := os.RemoveAll(filepath.Dir(m.Path())); err != nil {
				return fmt.Errorf("remove plugin %s: %w", m.Name, err)
			}
			fmt.Fprintf(a.stdout, "removed plugin %s (%s)\n", m.Name, strings.Join(m.Envs, ", "))
			return nil
		},
	}
}

func newPluginReinstallCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "reinstall NAME",
		Short: "Install a plugin again from the source it was installed from, with the same name, interpreter and sandbox",
		Long: `Reinstall is the step after a rebuild or an edit: the host runs the copy it
installed, checked against its sha256, so changes reach it only when the
plugin is installed again. gym run and gym list warn when a plugin's source
changed since its install.`,
		Example: `  go build -o bin/gym-plugin-warehouse ./cmd/gym-plugin-warehouse && gym plugin reinstall warehouse`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := installedPlugin(a, args[0])
			if err != nil {
				return err
			}
			if old.Source == "" {
				return fmt.Errorf("plugin %s was installed before sources were recorded: run gym plugin install on it again", old.Name)
			}
			m, err := plugins.Install(cmd.Context(), old.Source, a.pluginDir, plugins.InstallOptions{Name: old.Name, Sandbox: old.Sandbox, Interpreter: old.Interpreter})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "reinstalled plugin %s %s from %s (sha256 %.12s)\n", m.Name, m.Version, m.Source, m.SHA256)
			return nil
		},
	}
}

// installedPlugin finds plugin name in the plugin directory; an unknown
// name lists the installed ones.
func installedPlugin(a *app, name string) (plugins.Manifest, error) {
	if err := plugins.ValidateName(name); err != nil {
		return plugins.Manifest{}, fmt.Errorf("plugin name: %w", err)
	}
	ms, _ := plugins.Discover(a.pluginDir)
	var names []string
	for _, m := range ms {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return plugins.Manifest{}, fmt.Errorf("no plugin %q in %s (installed: %s)", name, a.pluginDir, strings.Join(names, ", "))
}
