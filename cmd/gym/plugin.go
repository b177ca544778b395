package main

import (
	"fmt"
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
	}
	cmd.AddCommand(newPluginInstallCmd(a), &cobra.Command{
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
	f.BoolVar(&opts.Sandbox.HostFiles, "host-files", false, "share the host's files with the plugin as they are (default: a mount namespace with the host read-only, home dirs and /tmp hidden; the swe plugin needs this to mount its per-episode disk limits where Docker sees them)")
	f.BoolVar(&opts.Sandbox.Docker, "docker", false, "let the plugin reach the Docker engine's socket (hidden by default: Docker is root on the host; only for plugins that run containers, like swe)")
	f.BoolVar(&opts.Sandbox.Root, "root", false, "run the plugin as root, without the capabilities that undo its sandbox (default: an unprivileged uid of its own, no capabilities; swe's namespace backend needs root for its own sandboxes)")
	f.StringSliceVar(&opts.Sandbox.Env, "env", nil, "host environment variables to pass besides PATH, LANG, TZ, TERM and LC_* (default: none; API keys and tokens stay with the host)")
	f.IntVar(&opts.Sandbox.MemoryMB, "memory-mb", 0, fmt.Sprintf("memory limit in MiB (0: %d)", plugins.DefaultMemoryMB))
	f.IntVar(&opts.Sandbox.MaxPids, "max-pids", 0, fmt.Sprintf("process limit (0: %d)", plugins.DefaultMaxPids))
	f.StringSliceVar(&opts.Interpreter, "interpreter", nil, "run BINARY as a script with this interpreter (e.g. /usr/bin/python3)")
	return cmd
}
