package plugins

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/envgym/envgym/plugins/dockerbroker"
)

// Protection is one guard around a plugin, as `gym list` and `gym doctor`
// show it: whether it holds for this plugin, and why (or why not).
type Protection struct {
	Name string `json:"name"`
	On   bool   `json:"on"`
	Why  string `json:"why"`
}

// Protections lists the guards of the install and checksum (name,
// checksum, exec of the hashed file, writable paths apart from the plugin
// directory), then those of the process sandbox: namespaces, identity,
// seccomp, Docker socket and environment as the manifest and this program
// set them up, network, files and cgroups as Limits reports them.
// It hashes the plugin's files: as slow as a start's check, no slower.
func (p *Plugin) Protections() []Protection {
	m := p.Manifest()
	var out []Protection
	add := func(name string, on bool, why string) { out = append(out, Protection{name, on, why}) }

	if err := ValidateName(m.Name); err != nil {
		add("name", false, err.Error())
	} else {
		add("name", true, "a plain, unreserved name, its folder's")
	}
	if got, err := m.ComputeSHA256(); err != nil {
		add("checksum", false, "cannot hash: "+err.Error()+" (start refused)")
	} else if got != m.SHA256 {
		add("checksum", false, "files changed since install (start refused); reinstall to trust them")
	} else {
		add("checksum", true, "files match the sha256 recorded at install")
	}
	switch {
	case len(m.Interpreter) == 0:
		add("exec-hashed", true, "the binary runs from the descriptor it was hashed from")
	case len(pythonFlags(m.Interpreter[0])) > 0:
		add("exec-hashed", true, "every file hashed (byte-code caches, links; links out refused); python -E -s -B")
	default:
		add("exec-hashed", false, "every file hashed, but "+filepath.Base(m.Interpreter[0])+" may load files the hash does not cover")
	}
	if err := checkWritable(filepath.Dir(filepath.Dir(m.Path())), m.Name, m.Sandbox.Writable); err != nil {
		add("writable-apart", false, err.Error())
	} else {
		add("writable-apart", true, "cache, scratch and writable paths outside the plugin directory")
	}

	// The process containment (sandboxinit_linux.go, identity_linux.go,
	// seccomp_linux.go), from the manifest and this program.
	sb := m.Sandbox
	r := p.Limits()
	if why := NamespacesSupported(); why != "" {
		add("namespaces", false, why)
	} else if _, err := initPath(); err == nil {
		add("namespaces", true, "own PID, IPC and UTS namespaces: the plugin sees only its own processes, and its tree dies with it")
	} else {
		add("namespaces", false, err.Error())
	}
	switch {
	case sb.Root && rootInUserNS(sb):
		add("identity", true, fmt.Sprintf("sandbox.root: root of its own user namespace only, host uid %d (nobody mapped too, never the host's root): it cannot write /proc/sys, read root's files or signal other users' processes", PluginUID(m.Name)))
	case sb.Root:
		add("identity", false, "sandbox.root: runs as the host's root (no user namespace here: "+orWhy(NamespacesSupported(), MountNamespaceSupported())+"), keeping the capabilities a sandboxing env needs")
	default:
		add("identity", true, fmt.Sprintf("uid %d of its own, no capabilities, no_new_privs, not dumpable", PluginUID(m.Name)))
	}
	if sb.Root {
		add("seccomp", true, "ptrace, keyctl, bpf, perf, kexec, modules, clocks denied (mounts allowed: sandbox.root)")
	} else {
		add("seccomp", true, "ptrace, mount, keyctl, bpf, perf, kexec, modules, clocks denied")
	}
	if v, ok := browserSandbox(m); ok {
		add("browser-sandbox", strings.HasPrefix(v, "on"), "Chromium's own sandbox around its renderers, as the plugin's spec said at install (its chromium_sandbox component): "+v)
	}
	brokered, noBroker := dockerBrokered(sb)
	switch {
	case sb.Docker && brokered:
		add("docker", true, "Docker through a broker of its own: only swe-shaped containers (non-root, no network, no capabilities, read-only, limited) from its image repository "+dockerbroker.ImageRepoFor(m.Name)+", mounts only from its own directories, only its own containers")
	case sb.Docker:
		add("docker", false, "sandbox.docker without a broker ("+noBroker+"): the Docker socket is reachable, and Docker is root on the host")
	case !r.Files:
		add("docker", false, "no mount namespace, so the Docker socket is not hidden")
	default:
		add("docker", true, "the Docker socket is hidden")
	}
	env := "of the host's environment only " + strings.Join(envAllowlist, ", ") + " and LC_*"
	if len(sb.Env) > 0 {
		env += ", and sandbox.env: " + strings.Join(sb.Env, ", ")
	}
	add("environment", true, env)
	if r.Network {
		add("network", false, "the manifest asks for the network (sandbox.network)")
	} else {
		add("network", true, "own network namespace, loopback only")
	}
	if r.Files {
		add("files", true, "own mount namespace: host read-only, secrets and other plugins hidden")
	} else {
		add("files", false, orWhy(r.FilesError, "no mount namespace"))
	}
	switch {
	case r.Cgroups && sb.Root && MountNamespaceSupported() != "":
		add("cgroups", false, "limits set, but a root plugin without a mount namespace can write the whole cgroup tree: "+MountNamespaceSupported())
	case r.Cgroups && sb.Root:
		add("cgroups", true, "memory and pids limits enforced; the tree read-only but the subtree delegated to it ("+DelegatedCgroup+" under its group)")
	case r.Cgroups:
		add("cgroups", true, "memory and pids limits enforced")
	default:
		add("cgroups", false, orWhy(r.CgroupError, "limits not enforced"))
	}
	return out
}

// ProtectionsOff names the protections that do not hold, "" when all do.
func ProtectionsOff(ps []Protection) string {
	var off []string
	for _, p := range ps {
		if !p.On {
			off = append(off, p.Name)
		}
	}
	return strings.Join(off, ",")
}

func orWhy(why, def string) string {
	if why != "" {
		return why
	}
	return def
}

// browserSandbox is the chromium_sandbox component a spec of the plugin
// recorded at install (envs/internal/chromium: "on (…)" or "off: why"),
// if any: the plugin's own word, checked by the web env's tests.
func browserSandbox(m Manifest) (string, bool) {
	for _, s := range m.Specs {
		if v, ok := s.Components["chromium_sandbox"]; ok {
			return v, true
		}
	}
	return "", false
}
