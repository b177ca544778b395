package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroup confines one plugin process tree with cgroup v1 memory and pids
// controllers, where the machine lets us write them.
type cgroup struct {
	dirs []string // the plugin's group in each hierarchy; dirs[0] is memory's
	// delegated are the subgroups (one per hierarchy, DelegatedCgroup
	// under dirs) a root plugin may write: it makes its sandboxes'
	// groups there, inside its own limits. Nil when nothing is delegated.
	delegated []string
	// rel is the delegated subtree's path relative to each hierarchy's
	// mount, what the plugin is told (wire.EnvCgroupDir).
	rel string
}

// DelegatedCgroup names the subgroup of a root plugin's cgroup that the
// plugin may write (its sandboxes' groups go there); the rest of the
// cgroup tree, its own group's limits included, is read-only to it.
const DelegatedCgroup = "sandboxes"

// delegatedHierarchies are the cgroup v1 controllers a root plugin gets a
// subtree of: swe's namespace backend limits memory, pids and CPU.
var delegatedHierarchies = []string{"memory", "pids", "cpu"}

// newCgroup creates the groups of one plugin process (leaf names it) with
// their limits. The process joins them itself, through procsFiles, before
// it starts the plugin: children are born inside. With delegate, each
// hierarchy (cpu too, without a limit) also gets the DelegatedCgroup
// subgroup; its limits are bounded by the plugin's (cgroup v1 limits are
// hierarchical).
// The subgroups and their cgroup.procs and tasks are owner's when it is
// not -1 (a root plugin in its own user namespace, cgroup v1's
// delegation: the kernel lets it make groups there and move its own
// processes into them; its group's limits stay root's).
func newCgroup(root, leaf string, s Sandbox, delegate bool, owner int) (*cgroup, error) {
	s = s.Limits()
	limits := []struct{ controller, file, value string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(s.MemoryMB << 20)},
		{"pids", "pids.max", strconv.Itoa(s.MaxPids)},
	}
	if delegate {
		limits = append(limits, struct{ controller, file, value string }{"cpu", "", ""})
	}
	cg := &cgroup{}
	for _, l := range limits {
		dir := filepath.Join(root, l.controller, "envgym", leaf)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", l.controller, err)
		}
		cg.dirs = append(cg.dirs, dir)
		if l.file != "" {
			if err := os.WriteFile(filepath.Join(dir, l.file), []byte(l.value), 0o644); err != nil {
				cg.remove()
				return nil, fmt.Errorf("cgroup %s: %w", l.file, err)
			}
		}
		if delegate {
			sub := filepath.Join(dir, DelegatedCgroup)
			if err := os.Mkdir(sub, 0o755); err != nil {
				cg.remove()
				return nil, fmt.Errorf("cgroup %s: delegated subgroup: %w", l.controller, err)
			}
			cg.delegated = append(cg.delegated, sub)
			if owner >= 0 {
				for _, f := range []string{"", "cgroup.procs", "tasks"} {
					if err := os.Chown(filepath.Join(sub, f), owner, owner); err != nil {
						cg.remove()
						return nil, fmt.Errorf("cgroup %s: delegate to uid %d: %w", l.controller, owner, err)
					}
				}
			}
		}
	}
	if delegate {
		cg.rel = filepath.Join("envgym", leaf, DelegatedCgroup)
	}
	return cg, nil
}

// procsFiles opens each group's cgroup.procs for writing: the sandbox
// init writes "0" to join (its cgroup file system is read-only by then).
func (c *cgroup) procsFiles() ([]*os.File, error) {
	var fs []*os.File
	for _, d := range c.dirs {
		f, err := os.OpenFile(filepath.Join(d, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range fs {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// pids lists every process still in the group or in a group under it
// (a root plugin's sandboxes).
func (c *cgroup) pids() []int {
	if c == nil || len(c.dirs) == 0 {
		return nil
	}
	var out []int
	for _, d := range subgroups(c.dirs[0]) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// subgroups lists dir and every group under it, deepest first (the order
// in which they can be removed).
func subgroups(dir string) []string {
	var out []string
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if e.IsDir() {
			out = append(out, subgroups(filepath.Join(dir, e.Name()))...)
		}
	}
	return append(out, dir)
}

// killAll kills every process in the group, including any that left the
// plugin's process group.
func (c *cgroup) killAll() {
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// remove deletes the groups and any the plugin made under them; they
// must be empty.
func (c *cgroup) remove() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, d := range c.dirs {
		for _, g := range subgroups(d) {
			if err := os.Remove(g); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	c.dirs, c.delegated = nil, nil
	return errors.Join(errs...)
}

// CgroupsWritable reports whether cgroup v1 memory and pids can be used
// under root (plugin limits depend on it).
func CgroupsWritable(root string) bool {
	for _, c := range []string{"memory", "pids"} {
		dir := filepath.Join(root, c, "envgym")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false
		}
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			return false
		}
	}
	return true
}
