// Command nsinit is the first process of every namespace-sandbox command
// (package swe embeds this file and builds it once per toolchain; it uses
// the standard library only, so it builds without the module).
//
// It runs in fresh user, mount, pid, net, ipc and uts namespaces as the
// namespace's root (the host's nobody). It waits on fd 3 until the parent
// has put it into its cgroups, bind-mounts the writable dirs onto
// themselves, remounts every other mount read-only, mounts a proc for its
// pid namespace, and execs /bin/sh -c CMD in the workspace. Doing this
// with mount(2) instead of the mount binary is what makes a command cost
// milliseconds instead of a fork and exec per mount.
//
// Usage (from package swe only): nsinit CMD, with SWE_WS, SWE_SCRATCH and
// GOCACHE in the environment. Exit status 125 means the set-up failed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) != 2 {
		fail("usage: nsinit CMD")
	}
	// The gate: the parent writes a line (or closes) once we are in our
	// cgroups, so nothing runs unlimited.
	gate := os.NewFile(3, "gate")
	var b [1]byte
	gate.Read(b[:])
	gate.Close()

	ws, scratch, gocache := os.Getenv("SWE_WS"), os.Getenv("SWE_SCRATCH"), os.Getenv("GOCACHE")
	if ws == "" || scratch == "" || gocache == "" {
		fail("SWE_WS, SWE_SCRATCH and GOCACHE must be set")
	}
	writable := map[string]bool{ws: true, scratch: true, gocache: true}
	// Bind each writable dir onto itself: it becomes a mount of its own
	// that the read-only pass below skips.
	for d := range writable {
		if err := syscall.Mount(d, d, "", syscall.MS_BIND, ""); err != nil {
			fail(fmt.Sprintf("bind %s: %v", d, err))
		}
	}
	mounts, err := readMountinfo()
	if err != nil {
		fail(err.Error())
	}
	for _, m := range mounts {
		switch m.fstype {
		case "proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs":
			// Their files belong to the host's root, which the
			// sandbox's nobody cannot write.
			continue
		}
		if m.flags&syscall.MS_RDONLY != 0 || writable[m.point] || m.point == "/sys/fs/cgroup" {
			continue
		}
		// A remount in a user namespace must keep the flags the
		// mount was locked with (nosuid, nodev, noexec, atime); a
		// failure leaves that mount as the host has it, as the test
		// suite's escape checks would show.
		syscall.Mount("", m.point, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY|m.flags, "")
	}
	// Our own pid namespace's processes, not the host's.
	syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")

	if err := os.Chdir(ws); err != nil {
		fail(fmt.Sprintf("chdir workspace: %v", err))
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWE_WS=") && !strings.HasPrefix(kv, "SWE_SCRATCH=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec("/bin/sh", []string{"/bin/sh", "-c", os.Args[1]}, env)
	fail(fmt.Sprintf("exec /bin/sh: %v", err))
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "nsinit:", msg)
	os.Exit(125)
}

type mountEntry struct {
	point, fstype string
	flags         uintptr // per-mount flags among ro, nosuid, nodev, noexec, atime
}

var mountFlags = map[string]uintptr{
	"ro": syscall.MS_RDONLY, "nosuid": syscall.MS_NOSUID, "nodev": syscall.MS_NODEV, "noexec": syscall.MS_NOEXEC,
	"noatime": syscall.MS_NOATIME, "nodiratime": syscall.MS_NODIRATIME, "relatime": syscall.MS_RELATIME,
	"strictatime": syscall.MS_STRICTATIME,
}

// readMountinfo parses /proc/self/mountinfo (proc(5)): field 5 is the
// mount point, field 6 the per-mount options, and the fstype follows the
// " - " separator.
func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 6 || len(postf) < 1 {
			continue
		}
		m := mountEntry{point: unescape(fields[4]), fstype: postf[0]}
		for _, o := range strings.Split(fields[5], ",") {
			m.flags |= mountFlags[o]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescape undoes the octal escapes (\040 for a space) of mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
