package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one line of /proc/PID/stat, the parts we use.
type proc struct {
	pid, ppid int
	comm      string
	state     byte
}

// readProc parses /proc/PID/stat; ok is false when pid does not exist.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return proc{pid: pid, ppid: ppid, comm: s[open+1 : end], state: f[0][0]}, true
}

// processes lists every process on the machine.
func processes() []proc {
	ents, _ := os.ReadDir("/proc")
	out := make([]proc, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// descendants lists the living processes below root (not root itself),
// parents before children.
func descendants(root int) []proc {
	kids := map[int][]proc{}
	for _, p := range processes() {
		kids[p.ppid] = append(kids[p.ppid], p)
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			if k.state == 'Z' || k.state == 'X' {
				continue
			}
			out = append(out, k)
			queue = append(queue, k.pid)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopped reports whether every thread of pid is stopped (state T): the
// group stop of SIGSTOP is asynchronous.
func stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			return false
		}
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) == 0 || f[0] != "T" {
			return false
		}
	}
	return true
}

// statusField reads a number (VmRSS in kB, Threads) of /proc/PID/status.
func statusField(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func countFDs(pid int) int64 {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return int64(len(ents))
}

// pssKiB reads the proportional set size of pid (shared pages divided
// among their users), or 0 where smaps_rollup is missing.
func pssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// usage is what one process tree holds. RSS sums count pages shared
// between the processes (a browser's) once per process; PSS does not.
type usage struct {
	rssKiB, pssKiB, threads, fds, children int64
}

// treeUsage sums RSS, threads and open files over root and its
// descendants, and counts the descendants.
func treeUsage(root int) usage {
	if root <= 0 {
		return usage{}
	}
	pids := []int{root}
	desc := descendants(root)
	for _, d := range desc {
		pids = append(pids, d.pid)
	}
	u := usage{children: int64(len(desc))}
	for _, pid := range pids {
		u.rssKiB += statusField(pid, "VmRSS")
		u.pssKiB += pssKiB(pid)
		u.threads += statusField(pid, "Threads")
		u.fds += countFDs(pid)
	}
	return u
}

// cgroupDir is the cgroup v1 directory of pid for controller ("" if none
// below the root).
func cgroupDir(pid int, controller string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[2] == "/" {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", controller, f[2])
			}
		}
	}
	return ""
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// oomKills reads the oom_kill counter of a memory cgroup (-1: unknown).
func oomKills(dir string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// signal sends sig to pid; a process that is already gone is not an error.
func signal(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
	}
	return nil
}

// browserContexts counts Chromium renderer processes among root's
// descendants (one per live page or browser context); ok is false when
// no Chromium runs below root, so there is nothing to measure.
func browserContexts(root int) (n int64, ok bool) {
	if root <= 0 {
		return 0, false
	}
	for _, d := range descendants(root) {
		args := chromiumArgs(d.pid)
		if args == nil {
			continue
		}
		ok = true
		if slices.Contains(args[1:], "--type=renderer") {
			n++
		}
	}
	return n, ok
}

// chromiumArgs is the command line of pid when it is a Chromium process,
// else nil. Zygote-forked Chromium processes rewrite their command line
// into one space-separated string: it is split on both NUL and space.
func chromiumArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	args := strings.FieldsFunc(string(b), func(r rune) bool { return r == 0 || r == ' ' })
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "chrom") {
		return nil
	}
	return args
}

// processKinds counts the descendants of root by kind: the command name,
// and for Chromium its process type and utility sub-type
// ("chromium/renderer", "chromium/utility:network.mojom.NetworkService"),
// as "kind=n" pairs in sorted order. A step in a leak curve then names
// the process that appeared.
func processKinds(root int) string {
	if root <= 0 {
		return ""
	}
	counts := map[string]int{}
	for _, d := range descendants(root) {
		kind := d.comm
		if args := chromiumArgs(d.pid); args != nil {
			typ, sub := "browser", ""
			for _, a := range args[1:] {
				if v, ok := strings.CutPrefix(a, "--type="); ok {
					typ = v
				}
				if v, ok := strings.CutPrefix(a, "--utility-sub-type="); ok {
					sub = ":" + v
				}
			}
			kind = "chromium/" + typ + sub
		}
		counts[kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, k+"="+strconv.Itoa(n))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, " ")
}
