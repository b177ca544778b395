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

// newCgroup creates the groups for pid and moves it in. Children the
// plugin starts later (a browser) are born inside.
func newCgroup(root, name string, pid int, s Sandbox) (*cgroup, error) {
	s = s.Limits()
	leaf := fmt.Sprintf("envgym/%s-%d", name, pid)
	limits := []struct{ controller, file, value string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(s.MemoryMB << 20)},
		{"pids", "pids.max", strconv.Itoa(s.MaxPids)},
	}
	cg := &cgroup{}
	for _, l := range limits {
		dir := filepath.Join(root, l.controller, leaf)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", l.controller, err)
		}
		cg.dirs = append(cg.dirs, dir)
		if err := os.WriteFile(filepath.Join(dir, l.file), []byte(l.value), 0o644); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", l.file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: add pid: %w", l.controller, err)
		}
	}
	return cg, nil
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
