package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dockerSocket is the Docker engine's API socket.
const dockerSocket = "/var/run/docker.sock"

// sweLockLabel is the label the swe env's Docker backend puts on every
// container it starts, valued with the path of the owner's lock file, which
// the backend holds open (flock) while it lives (envs/swe/docker.go). The
// plugin numbers itself in its own PID namespace, so its pid says nothing
// here: the lock files its processes hold open name its containers.
const (
	sweLockLabel  = "envgym.swe.lock"
	sweLockPrefix = "envgym-swe-owner-"
)

// pluginContainers counts the running containers a plugin process owns,
// asking the Docker engine directly (no client library: one GET). ok is
// false when the engine does not answer.
func pluginContainers(ctx context.Context, pid int) (n int64, ok bool) {
	ids, err := containerIDs(ctx, pid)
	if err != nil {
		return 0, false
	}
	return int64(len(ids)), true
}

// engine is an HTTP client of the Docker engine's socket.
func engine() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", dockerSocket)
		}},
	}
}

// containerIDs lists the running (not paused) containers the plugin
// process pid owns.
func containerIDs(ctx context.Context, pid int) ([]string, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no plugin process")
	}
	if _, err := os.Stat(dockerSocket); err != nil {
		return nil, err
	}
	locks := heldLocks(pid)
	if len(locks) == 0 {
		return nil, nil
	}
	filters, _ := json.Marshal(map[string][]string{"label": {sweLockLabel}, "status": {"running"}})
	c := engine()
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/json?filters="+url.QueryEscape(string(filters)), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list []struct {
		ID     string            `json:"Id"`
		Labels map[string]string `json:"Labels"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("docker engine: list containers: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("docker engine: list containers: %w", err)
	}
	var ids []string
	for _, c := range list {
		if locks[c.Labels[sweLockLabel]] {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// heldLocks is the set of swe owner lock files that pid or a process below
// it holds open, named as those processes see them (the label's value).
func heldLocks(pid int) map[string]bool {
	locks := map[string]bool{}
	pids := []int{pid}
	for _, p := range descendants(pid) {
		pids = append(pids, p.pid)
	}
	for _, p := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", p)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err == nil && strings.HasPrefix(filepath.Base(target), sweLockPrefix) && strings.HasSuffix(target, ".lock") {
				locks[target] = true
			}
		}
	}
	return locks
}

// killContainers SIGKILLs every running container the plugin owns (the
// episode's sandbox and the warm pool alike) through the engine, and
// waits until none runs.
func killContainers(pid int) (string, error) {
	return containerFault(pid, KillContainer, "kill?signal=KILL")
}

// pauseContainers freezes every running container the plugin owns (the
// cgroup freezer: SIGSTOP for a whole container), and waits until none
// runs unpaused.
func pauseContainers(pid int) (string, error) {
	return containerFault(pid, StopContainer, "pause")
}

// containerFault POSTs op to each running container of the plugin and
// waits until none of them is left running (paused ones are not).
func containerFault(pid int, f Fault, op string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), landTimeout)
	defer cancel()
	ids, err := containerIDs(ctx, pid)
	if err != nil || len(ids) == 0 {
		return "", fmt.Errorf("%s: %w: process %d owns no running container (%v)", f, errNotApplicable, pid, err)
	}
	c := engine()
	defer c.CloseIdleConnections()
	for _, id := range ids {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/containers/"+id+"/"+op, nil)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		resp.Body.Close()
		// 409: it stopped (or paused) meanwhile, which is what we wanted.
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusConflict {
			return "", fmt.Errorf("%s %.12s: docker engine: %s", f, id, resp.Status)
		}
	}
	// Only the containers hit must stop: the plugin may start new ones
	// meanwhile (swe refills its warm pool), and those are not the fault's.
	hit := map[string]bool{}
	for _, id := range ids {
		hit[id] = true
	}
	landed := func() bool {
		left, err := containerIDs(ctx, pid)
		if err != nil {
			return false
		}
		for _, id := range left {
			if hit[id] {
				return false
			}
		}
		return true
	}
	if !waitFor(landTimeout, landed) {
		return "", fmt.Errorf("%s: containers of %d still running after %v", f, pid, landTimeout)
	}
	return fmt.Sprintf("%s %d container(s) of %d", op, len(ids), pid), nil
}
