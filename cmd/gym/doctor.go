package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/plugins"
)

// doctorCheck is one line of `gym doctor`.
type doctorCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	Needed string `json:"needed_by"`
}

func newDoctorCmd(a *app) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for everything the envs need, with a fix for each problem",
		Long: `Doctor checks what the envs depend on: Chromium (web, GUI phone), the Docker
engine (SWE Docker backend), writable cgroups (plugin and SWE sandbox
limits), user namespaces (SWE namespace sandbox), libtorch and OpenBLAS
(trainer, world model), Xvfb (GUI desktop), Python gRPC (Python plugins),
disk space, and the installed plugins. Each failing line says how to fix it.

Exit code 0 unless --strict is given and a check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checks := doctor(cmd.Context(), a)
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			if a.json {
				if err := a.writeJSON(checks); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CHECK\tOK\tDETAIL\tNEEDED BY\tFIX")
				for _, c := range checks {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, yesNo(c.OK), c.Detail, c.Needed, c.Fix)
				}
				tw.Flush()
			}
			if strict && failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d checks failed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when any check fails")
	return cmd
}

func doctor(ctx context.Context, a *app) []doctorCheck {
	var out []doctorCheck
	add := func(name, needed string, ok bool, detail, fix string) {
		c := doctorCheck{Name: name, OK: ok, Detail: detail, Needed: needed}
		if !ok {
			c.Fix = fix
		}
		out = append(out, c)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	if p, err := browser.FindChromium(); err != nil {
		add("chromium", "web, gui", false, err.Error(), "apt-get install -y chromium-headless-shell (or chromium)")
	} else if v, err := browser.ProbeVersion(ctx, p); err != nil {
		add("chromium", "web, gui", false, fmt.Sprintf("%s: %v", p, err), "reinstall: apt-get install --reinstall -y chromium")
	} else {
		detail := p + " " + v
		if !browser.IsHeadlessShell(p) {
			detail += " (the full browser: apt-get install -y chromium-headless-shell gives the web envs 2-3x their actions/s; envs/web/README.md)"
		}
		add("chromium", "web, gui", true, detail, "")
	}

	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Output(); err != nil {
		add("docker engine", "swe (docker backend)", false, "not reachable", "apt-get install -y docker.io, then start dockerd (scripts/setup.sh does)")
	} else {
		add("docker engine", "swe (docker backend)", true, "server "+strings.TrimSpace(string(out)), "")
	}

	cg := plugins.CgroupsWritable("/sys/fs/cgroup")
	add("cgroups v1 memory+pids", "plugin limits, swe", cg, map[bool]string{true: "writable", false: "not writable"}[cg],
		"run as root on a host with cgroup v1 memory and pids controllers mounted at /sys/fs/cgroup")

	userns := fileHas("/proc/sys/kernel/unprivileged_userns_clone", "1") || os.Geteuid() == 0
	add("namespaces", "swe (namespace backend), plugin network isolation", userns && os.Geteuid() == 0,
		fmt.Sprintf("euid %d", os.Geteuid()), "run gym as root (network namespaces and cgroups need it)")

	if err := plugins.CheckFileIsolation(); err != nil {
		add("plugin file isolation", "every plugin (host files read-only, secrets hidden)", false, err.Error(),
			"run gym as root: each plugin gets its own mount namespace")
	} else {
		add("plugin file isolation", "every plugin (host files read-only, secrets hidden)", true, "mount namespace per plugin", "")
	}

	torch := firstExisting("/usr/lib/x86_64-linux-gnu/libtorch.so", "/usr/lib/aarch64-linux-gnu/libtorch.so")
	add("libtorch", "trainer, worldmodel", torch != "", orNone(torch), "apt-get install -y libtorch-dev")
	blas := firstExisting("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")
	add("openblas", "trainer, worldmodel (30x faster matmul)", blas != "", orNone(blas), "apt-get install -y libopenblas0-pthread")

	xvfb, err := exec.LookPath("Xvfb")
	add("xvfb", "gui desktop", err == nil, orNone(xvfb), "apt-get install -y xvfb xterm x11-apps")

	py := exec.CommandContext(ctx, "/usr/bin/python3", "-c", "import grpc, google.protobuf; print(grpc.__version__)")
	if b, err := py.Output(); err != nil {
		add("python grpc", "python plugins", false, "import grpc failed", "apt-get install -y python3-grpcio python3-protobuf")
	} else {
		add("python grpc", "python plugins", true, "grpcio "+strings.TrimSpace(string(b)), "")
	}

	var st syscall.Statfs_t
	dir := a.pluginDir
	for dir != "/" {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err := syscall.Statfs(dir, &st); err == nil {
		free := float64(st.Bavail) * float64(st.Bsize) / (1 << 30)
		add("disk space", "index and task caches, sandboxes", free >= 2, fmt.Sprintf("%.1f GiB free at %s", free, dir), "free at least 2 GiB")
	}

	h := plugins.New(plugins.Config{Dir: a.pluginDir, HealthInterval: -1})
	defer h.Close()
	n := len(h.Plugins())
	ok := n > 0 && len(h.Problems) == 0
	detail := fmt.Sprintf("%d plugins in %s", n, a.pluginDir)
	if len(h.Problems) > 0 {
		detail += fmt.Sprintf("; %d bad manifests: %v", len(h.Problems), h.Problems[0])
	}
	add("plugins", "everything", ok, detail, "make build (or gym plugin install BINARY)")
	return append(out, protectionChecks(h.Plugins())...)
}

// protectionChecks is one doctor line per protection of the installed
// plugins (plugins.Protections): OK when every plugin has it, else the
// plugins without it and why.
func protectionChecks(ps []*plugins.Plugin) []doctorCheck {
	var order []string
	yes := map[string]string{}  // protection → why, from a plugin that has it
	no := map[string][]string{} // protection → "plugin: why" of those that do not
	for _, p := range ps {
		for _, pr := range p.Protections() {
			if _, seen := yes[pr.Name]; !seen {
				if _, seen := no[pr.Name]; !seen {
					order = append(order, pr.Name)
				}
			}
			if pr.On {
				yes[pr.Name] = pr.Why
			} else {
				no[pr.Name] = append(no[pr.Name], p.Manifest().Name+": "+pr.Why)
			}
		}
	}
	out := make([]doctorCheck, 0, len(order))
	for _, name := range order {
		c := doctorCheck{Name: "protection " + name, OK: len(no[name]) == 0, Needed: "hostile plugins kept apart", Detail: yes[name]}
		if !c.OK {
			c.Detail = "no for " + strings.Join(no[name], "; ")
			c.Fix = "gym list --json shows each plugin's protections; plugins/README.md says what each guards"
		}
		out = append(out, c)
	}
	return out
}

func fileHas(path, want string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) == want
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "not found"
	}
	return s
}
