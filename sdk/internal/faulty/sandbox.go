package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sandboxProbe runs the probes the isolation tests use from inside the
// sandbox. ok is false when action is not one of them.
//
//	readfile PATH   report the first bytes of PATH, or the error
//	writefile PATH  write a line to PATH, report ok or the error
//	forkbomb        start processes until the kernel refuses one
//	membomb         allocate and touch memory until killed
//	netns           the network namespace the process lives in
//	umount PATH     try to unmount PATH (undo the sandbox's cover)
//	listdir PATH    the names in a directory, or the error
//
// The bombs refuse to run unless a cgroup limit of a sane size confines
// this process, so a broken sandbox fails the test instead of the machine.
func sandboxProbe(ctx context.Context, action string) (string, bool) {
	verb, arg, _ := strings.Cut(action, " ")
	switch verb {
	case "readfile":
		b, err := os.ReadFile(arg)
		if err != nil {
			return "readfile error: " + err.Error(), true
		}
		return "readfile ok: " + string(b[:min(len(b), 4096)]), true
	case "writefile":
		if err := os.WriteFile(arg, []byte("written by the faulty plugin\n"), 0o644); err != nil {
			return "writefile error: " + err.Error(), true
		}
		return "writefile ok", true
	case "forkbomb":
		return forkBomb(ctx), true
	case "membomb":
		return memBomb(), true
	case "umount":
		if err := syscall.Unmount(arg, syscall.MNT_DETACH); err != nil {
			return "umount error: " + err.Error(), true
		}
		return "umount ok", true
	case "listdir":
		es, err := os.ReadDir(arg)
		if err != nil {
			return "listdir error: " + err.Error(), true
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return "listdir ok: " + strings.Join(names, " "), true
	case "netns":
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			return "netns error: " + err.Error(), true
		}
		return "netns " + ns, true
	}
	return "", false
}

// ownCgroup is the cgroup v1 directory of this process for controller,
// "" when there is none.
func ownCgroup(controller string) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == controller && f[2] != "/" {
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
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// forkBomb starts sleeping child processes until starting one fails, and
// leaves them running (in the plugin's process group and cgroup) for the
// host to clean up.
func forkBomb(ctx context.Context) string {
	dir := ownCgroup("pids")
	limit, err := readInt(filepath.Join(dir, "pids.max"))
	if dir == "" || err != nil || limit > 4096 {
		return fmt.Sprintf("forkbomb refused: no pids limit confines this process (cgroup %q, pids.max %d, %v)", dir, limit, err)
	}
	spawned := 0
	var refused error
	for int64(spawned) < limit+16 && ctx.Err() == nil { // bounded even if the limit does not hold
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			refused = err
			break
		}
		spawned++
	}
	cur, _ := readInt(filepath.Join(dir, "pids.current"))
	return fmt.Sprintf("forkbomb: spawned %d processes, then refused: %v; pids.current=%d pids.max=%d", spawned, refused, cur, limit)
}

// memBomb touches 16 MiB chunks up to twice the memory limit; the memory
// cgroup should kill the process long before.
func memBomb() string {
	dir := ownCgroup("memory")
	limit, err := readInt(filepath.Join(dir, "memory.limit_in_bytes"))
	if dir == "" || err != nil || limit > 8<<30 {
		return fmt.Sprintf("membomb refused: no memory limit confines this process (cgroup %q, limit %d, %v)", dir, limit, err)
	}
	var hog [][]byte
	total := int64(0)
	for total < 2*limit {
		c := make([]byte, 16<<20)
		for i := 0; i < len(c); i += 4096 {
			c[i] = 1
		}
		hog = append(hog, c)
		total += int64(len(c))
	}
	return fmt.Sprintf("membomb: touched %d MiB under a limit of %d MiB and was not killed (%d chunks)", total>>20, limit>>20, len(hog))
}
