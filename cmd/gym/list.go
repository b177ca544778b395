package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
)

// listEntry is one env in `gym list --json`.
type listEntry struct {
	EnvID         string                `json:"env_id"`
	Version       string                `json:"version"`
	Description   string                `json:"description,omitempty"`
	Tasks         []gym.Task            `json:"tasks"`
	MaxSteps      int                   `json:"max_steps,omitempty"`
	Deterministic bool                  `json:"deterministic"`
	Capabilities  []string              `json:"capabilities,omitempty"`
	Plugin        string                `json:"plugin"`
	PluginVersion string                `json:"plugin_version"`
	PluginSHA256  string                `json:"plugin_sha256"`
	Sandbox       plugins.SandboxReport `json:"sandbox"`
	// Protections: each guard around the plugin, on or not, and why.
	Protections []plugins.Protection `json:"protections"`
	// Error is set when the plugin could not be started or described; the
	// entry then comes from its manifest alone.
	Error string `json:"error,omitempty"`
}

func newListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the envs of every installed plugin, with tasks and sandbox limits",
		Long: `List reads every plugin manifest of the plugin directory, with the specs of
the envs it serves that ` + "`gym plugin install`" + ` recorded (a plugin installed
before specs were recorded is started and asked), checks each binary's
sha256, and prints one row per env: its tasks, the plugin that serves it
(name, version, first 12 digits of the binary's sha256), the sandbox the
plugin runs in and its protections: "all N" when every guard holds, else
the ones that do not (gym doctor says why; --json has each with on and
why).

Manifests that fail to load are printed as warnings on stderr and do not
hide the other plugins. With --json, stdout is a JSON array with one object
per env (env_id, version, tasks, capabilities, plugin, plugin_version,
plugin_sha256 in full, sandbox, protections, and error when the plugin's binary does not
match its manifest or it failed to start).`,
		Example: `  gym list
  gym list --json | jq -r '.[].env_id'
  GYM_PLUGIN_DIR=./plugins gym list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host := a.openHost()
			defer host.Close()
			entries := []listEntry{}
			for _, p := range host.Plugins() {
				m := p.Manifest()
				specs, err := pluginSpecs(cmd.Context(), p)
				if err != nil {
					if cmd.Context().Err() != nil {
						return err
					}
					a.warn("plugin %s: %v", m.Name, err)
					for _, id := range m.Envs {
						specs = append(specs, gym.Spec{ID: id, Version: m.Version})
					}
				}
				prot := p.Protections()
				for _, s := range specs {
					e := listEntry{
						EnvID: s.ID, Version: s.Version, Description: s.Description, Tasks: s.Tasks,
						MaxSteps: s.MaxSteps, Deterministic: s.Deterministic, Capabilities: s.Capabilities,
						Plugin: m.Name, PluginVersion: m.Version, PluginSHA256: m.SHA256, Sandbox: p.Limits(),
						Protections: prot,
					}
					if e.Tasks == nil {
						e.Tasks = []gym.Task{}
					}
					if err != nil {
						e.Error = err.Error()
					}
					entries = append(entries, e)
				}
			}
			if a.json {
				return a.writeJSON(entries)
			}
			if len(entries) == 0 {
				fmt.Fprintf(a.stderr, "no plugins in %s; install one with `gym plugin install BINARY`\n", a.pluginDir)
				return nil
			}
			return printList(a, entries)
		},
	}
}

func printList(a *app, entries []listEntry) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tVERSION\tTASKS\tPLUGIN\tSHA256\tSANDBOX\tPROTECTIONS")
	for _, e := range entries {
		tasks := make([]string, len(e.Tasks))
		for i, t := range e.Tasks {
			tasks[i] = t.ID
		}
		taskList := strings.Join(tasks, ",")
		if len(taskList) > 40 { // long task lists (GUI) would push the sandbox off screen; --json has them all
			cut := strings.LastIndexByte(taskList[:40], ',')
			taskList = fmt.Sprintf("%s,… (%d tasks)", taskList[:max(cut, 0)], len(tasks))
		}
		if taskList == "" {
			taskList = "-"
		}
		if e.Error != "" {
			taskList = "(plugin failed to start)"
		}
		s := e.Sandbox
		cg := "cgroups=yes"
		if !s.Cgroups {
			cg = "cgroups=no"
		}
		prot := fmt.Sprintf("all %d", len(e.Protections))
		if off := plugins.ProtectionsOff(e.Protections); off != "" {
			prot = "no: " + off
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s@%s\t%s\tnet=%s mem=%dMiB pids=%d %s\t%s\n",
			e.EnvID, e.Version, taskList, e.Plugin, e.PluginVersion, short(e.PluginSHA256),
			yesNo(s.Network), s.MemoryMB, s.MaxPids, cg, prot)
	}
	return tw.Flush()
}

// pluginSpecs are the specs p's manifest recorded at install, after a
// check that the binary is still the one installed; a manifest without
// them (installed by an older gym) is answered by starting the plugin.
func pluginSpecs(ctx context.Context, p *plugins.Plugin) ([]gym.Spec, error) {
	m := p.Manifest()
	if len(m.Specs) == 0 {
		return p.Specs(ctx)
	}
	sum, err := m.ComputeSHA256()
	if err != nil {
		return nil, err
	}
	if sum != m.SHA256 {
		return nil, fmt.Errorf("%w: %s has sha256 %s, the manifest says %s", plugins.ErrChecksum, m.BinaryPath(), short(sum), short(m.SHA256))
	}
	return m.Specs, nil
}
