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
	dirs []string
}

// newCgroup creates the groups of one plugin process (leaf names it) with
// their limits. The process joins them itself, through procsFiles, before
// it starts the plugin: children are born inside.
func newCgroup(root, leaf string, s Sandbox) (*cgroup, error) {
	s = s.Limits()
	limits := []struct{ controller, file, value string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(s.MemoryMB << 20)},
		{"pids", "pids.max", strconv.Itoa(s.MaxPids)},
	}
	cg := &cgroup{}
	for _, l := range limits {
		dir := filepath.Join(root, l.controller, "envgym", leaf)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", l.controller, err)
		}
		cg.dirs = append(cg.dirs, dir)
		if err := os.WriteFile(filepath.Join(dir, l.file), []byte(l.value), 0o644); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", l.file, err)
		}
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

// pids lists every process still in the group.
func (c *cgroup) pids() []int {
	if c == nil || len(c.dirs) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dirs[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// killAll kills every process in the group, including any that left the
// plugin's process group.
func (c *cgroup) killAll() {
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// remove deletes the groups; they must be empty.
func (c *cgroup) remove() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, d := range c.dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	c.dirs = nil
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
