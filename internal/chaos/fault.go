package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// Fault is a kind of failure injected into a plugin's process tree.
type Fault string

// The faults. Each is real: a signal from outside, or the kernel's own
// memory cgroup OOM killer.
const (
	// Kill sends SIGKILL to the plugin process.
	Kill Fault = "kill"
	// Stop sends SIGSTOP: the plugin hangs, the step times out, the host's
	// health check finds it unresponsive and kills it.
	Stop Fault = "stop"
	// OOM lowers the plugin's memory cgroup limit to just above its usage,
	// marks the plugin and its direct children (Chromium's browser, Xvfb)
	// as the OOM killer's first choice (oom_score_adj 1000, the rest of
	// its tree exempt) and starts a pressure process inside that cgroup,
	// so the kernel's memory cgroup OOM killer kills one of them. Needs cgroup v1
	// memory limits (the host as root).
	OOM Fault = "oom"
	// KillChild sends SIGKILL to a child process of the plugin: Chromium
	// for the browser envs, Xvfb for the desktop, sandboxed tools.
	KillChild Fault = "kill_child"
	// KillContainer SIGKILLs, through the Docker engine, every container
	// the plugin owns (the swe env's sandbox and its warm pool): they are
	// not the plugin's children, so kill_child never reaches them.
	KillContainer Fault = "kill_container"
	// StopContainer pauses (freezes) every container the plugin owns:
	// the SIGSTOP of a sandbox.
	StopContainer Fault = "stop_container"
)

// AllFaults lists every fault, in a fixed order.
func AllFaults() []Fault { return []Fault{Kill, Stop, OOM, KillChild, KillContainer, StopContainer} }

// ParseFault reads a fault name.
func ParseFault(s string) (Fault, error) {
	for _, f := range AllFaults() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown fault %q (want kill, stop, oom, kill_child, kill_container or stop_container)", s)
}

// errNotApplicable: the fault cannot be injected into this tree (no
// child process, no memory cgroup).
var errNotApplicable = errors.New("fault not applicable")

// applicable reports whether f can hit the tree of pid now.
func applicable(f Fault, pid int) bool {
	switch f {
	case OOM:
		if cgroupDir(pid, "memory") == "" {
			return false
		}
		_, err := exec.LookPath("tail")
		return err == nil
	case KillChild:
		return len(descendants(pid)) > 0
	case KillContainer, StopContainer:
		n, ok := pluginContainers(context.Background(), pid)
		return ok && n > 0
	}
	return true
}

// landTimeout bounds the wait for a fault to take effect.
const landTimeout = 10 * time.Second

// inject applies f to the tree of pid and returns once it took effect
// (the process is dead or stopped), with a detail for the report.
func inject(f Fault, pid int) (string, error) {
	if pid <= 0 || !alive(pid) {
		return "", fmt.Errorf("%s: no live plugin process (pid %d)", f, pid)
	}
	switch f {
	case Kill:
		if err := signal(pid, syscall.SIGKILL); err != nil {
			return "", err
		}
		if !waitFor(landTimeout, func() bool { return !alive(pid) }) {
			return "", fmt.Errorf("kill: process %d still alive after %v", pid, landTimeout)
		}
		return fmt.Sprintf("SIGKILL %d", pid), nil
	case Stop:
		if err := signal(pid, syscall.SIGSTOP); err != nil {
			return "", err
		}
		if !waitFor(landTimeout, func() bool { return stopped(pid) || !alive(pid) }) {
			return "", fmt.Errorf("stop: process %d did not stop within %v", pid, landTimeout)
		}
		return fmt.Sprintf("SIGSTOP %d", pid), nil
	case KillChild:
		return killChild(pid)
	case KillContainer:
		return killContainers(pid)
	case StopContainer:
		return pauseContainers(pid)
	case OOM:
		return oomKill(pid)
	}
	return "", fmt.Errorf("unknown fault %q", f)
}

// preferredChild matches the processes whose death a browser or desktop
// env must notice.
var preferredChild = regexp.MustCompile(`(?i)chrom|headless|xvfb|xorg`)

func killChild(pid int) (string, error) {
	desc := descendants(pid)
	if len(desc) == 0 {
		return "", fmt.Errorf("kill_child: %w: process %d has no children", errNotApplicable, pid)
	}
	victim := desc[0] // a direct child: descendants lists parents first
	for _, d := range desc {
		if d.ppid == pid && preferredChild.MatchString(d.comm) {
			victim = d
			break
		}
	}
	if err := signal(victim.pid, syscall.SIGKILL); err != nil {
		return "", err
	}
	if !waitFor(landTimeout, func() bool { return !alive(victim.pid) }) {
		return "", fmt.Errorf("kill_child: %s (%d) still alive after %v", victim.comm, victim.pid, landTimeout)
	}
	return fmt.Sprintf("SIGKILL child %s (%d) of %d", victim.comm, victim.pid, pid), nil
}

// oomHeadroom is how far above its usage the limit is set: the pressure
// process fills it within milliseconds.
const oomHeadroom = 16 << 20

func oomKill(pid int) (detail string, err error) {
	dir := cgroupDir(pid, "memory")
	if dir == "" {
		return "", fmt.Errorf("oom: %w: process %d has no memory cgroup", errNotApplicable, pid)
	}
	used, err := readInt(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return "", fmt.Errorf("oom: %w", err)
	}
	kills := oomKills(dir)
	// The victims the fault means: the plugin process and its direct
	// children (the plugin itself when pid is the sandbox's init). They
	// are marked as the kernel's first choice (raising a score needs no
	// privilege). The rest of the tree is exempted: Chromium gives its
	// renderers scores up to 1000 too and the kernel breaks the tie by
	// size, so a renderer the step does not need would die and the env
	// rightly say OK (lowering a score needs CAP_SYS_RESOURCE; without it
	// the tie stays). Only a victim's death counts as landed: renderers
	// of a disposed context exit on their own meanwhile.
	victims := []proc{{pid: pid}}
	for _, p := range descendants(pid) {
		adj := "-1000"
		if p.ppid == pid {
			victims = append(victims, p)
			adj = "1000"
		}
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", p.pid), []byte(adj), 0o644)
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte("1000"), 0o644); err != nil {
		return "", fmt.Errorf("oom: mark the plugin as the victim: %w", err)
	}
	limitFile := filepath.Join(dir, "memory.limit_in_bytes")
	old, err := os.ReadFile(limitFile)
	if err != nil {
		return "", fmt.Errorf("oom: %w", err)
	}
	limit := (used + oomHeadroom + 4095) &^ 4095
	if err := os.WriteFile(limitFile, []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		return "", fmt.Errorf("oom: lower the limit of %s: %w", dir, err)
	}
	defer func() {
		if err != nil { // the plugin lives on: give it its limit back
			_ = os.WriteFile(limitFile, old, 0o644)
		}
	}()
	// The pressure process waits on stdin until it is inside the cgroup,
	// then grows without bound (tail buffers a "line" of /dev/zero that
	// never ends).
	cmd := exec.Command("sh", "-c", "read go; exec tail /dev/zero")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("oom: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("oom: start pressure process: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	hog := strconv.Itoa(cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(hog), 0o644); err != nil {
		return "", fmt.Errorf("oom: move the pressure process into %s: %w", dir, err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return "", fmt.Errorf("oom: release the pressure process: %w", err)
	}
	var victim proc
	landed := waitFor(landTimeout, func() bool {
		for _, p := range victims {
			if !alive(p.pid) {
				victim = p
				return true
			}
		}
		return false
	})
	if !landed {
		return "", fmt.Errorf("oom: nothing in the tree of %d was killed within %v (limit %d, usage %d)", pid, landTimeout, limit, used)
	}
	confirmed := "oom_kill counter unavailable"
	if after := oomKills(dir); kills >= 0 && after > kills {
		confirmed = fmt.Sprintf("oom_kill %d -> %d", kills, after)
	}
	name := "plugin"
	if victim.pid != pid {
		name = victim.comm
	}
	return fmt.Sprintf("memory cgroup OOM killed %s %d (limit lowered to %d MiB; %s)", name, victim.pid, limit>>20, confirmed), nil
}
