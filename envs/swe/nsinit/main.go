// Command nsinit is the first process of every namespace-sandbox command
// (package swe embeds this file and builds it once per toolchain; it uses
// the standard library only, so it builds without the module).
//
// It runs in fresh user, mount, pid, net, ipc and uts namespaces as the
// namespace's root (the host's nobody). It joins its cgroups (SWE_CGROUPS,
// the cgroup.procs files the parent made for it), bind-mounts the
// writable dirs onto themselves, remounts every other mount read-only
// (the cgroup tree included), mounts a proc for its pid namespace, and
// execs /bin/sh -c CMD in the workspace. Doing this
// with mount(2) instead of the mount binary is what makes a command cost
// milliseconds instead of a fork and exec per mount.
//
// Usage (from package swe only): nsinit CMD, with SWE_WS, SWE_SCRATCH,
// SWE_ROOT, SWE_CGROUPS, GOROOT and GOCACHE in the environment. Exit status 125 means the set-up failed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) != 2 {
		fail("usage: nsinit CMD")
	}
	ws, scratch, gocache, root := os.Getenv("SWE_WS"), os.Getenv("SWE_SCRATCH"), os.Getenv("GOCACHE"), os.Getenv("SWE_ROOT")
	goroot, cgroups := os.Getenv("GOROOT"), os.Getenv("SWE_CGROUPS")
	if ws == "" || scratch == "" || gocache == "" || root == "" || goroot == "" || cgroups == "" {
		fail("SWE_WS, SWE_SCRATCH, SWE_ROOT, SWE_CGROUPS, GOROOT and GOCACHE must be set")
	}
	// First of all, so nothing runs unlimited: a process may move itself
	// (its uid owns these files), where the parent, whose uid differs,
	// may not move it.
	for _, procs := range strings.Split(cgroups, ":") {
		if err := os.WriteFile(procs, []byte("0"), 0o644); err != nil {
			fail(fmt.Sprintf("join cgroup: %v", err))
		}
	}
	buildRoot(root, []string{ws, scratch, gocache}, goroot)
	if err := pivot(root); err != nil {
		fail(err.Error())
	}
	if err := os.Chdir(ws); err != nil {
		fail(fmt.Sprintf("chdir workspace: %v", err))
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWE_WS=") && !strings.HasPrefix(kv, "SWE_SCRATCH=") && !strings.HasPrefix(kv, "SWE_ROOT=") && !strings.HasPrefix(kv, "SWE_CGROUPS=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec("/bin/sh", []string{"/bin/sh", "-c", os.Args[1]}, env)
	fail(fmt.Sprintf("exec /bin/sh: %v", err))
}

// systemDirs are the host's dirs a command sees, read-only: programs,
// libraries and configuration. Everything else of the host (home dirs,
// /tmp, /var, /run and its Docker socket, the checkout the env runs
// from) is simply absent.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// devices are the host's character devices bound into the sandbox's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// buildRoot assembles the sandbox's root filesystem in a fresh tmpfs at
// root: the system dirs and GOROOT read-only, the writable dirs at their
// own paths, a /dev with the usual devices, /tmp pointing into the
// scratch dir, a proc of our pid namespace, and the cgroup hierarchies
// (read-only to nobody) so Go sizes GOMAXPROCS to the CPU quota.
func buildRoot(root string, writable []string, goroot string) {
	must := func(what string, err error) {
		if err != nil {
			fail(fmt.Sprintf("%s: %v", what, err))
		}
	}
	// Nothing we mount may propagate back to the host.
	must("make mounts private", syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""))
	must("root tmpfs", syscall.Mount("tmpfs", root, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755"))
	dirs := append([]string{}, systemDirs...)
	if !under(goroot, systemDirs) {
		dirs = append(dirs, goroot)
	}
	var readOnly []string
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue // not on this system (lib32 and friends)
		}
		target := root + d
		if fi.Mode()&os.ModeSymlink != 0 {
			// merged /usr: /bin -> usr/bin stays a link.
			link, err := os.Readlink(d)
			must("read link "+d, err)
			must("mkdir", os.MkdirAll(filepath.Dir(target), 0o755))
			must("link "+d, os.Symlink(link, target))
			continue
		}
		bind(d, target, true)
		readOnly = append(readOnly, target)
	}
	for _, d := range writable {
		bind(d, root+d, false)
	}
	dev := root + "/dev"
	must("mkdir /dev", os.MkdirAll(dev, 0o755))
	must("mount /dev", syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID|syscall.MS_NOEXEC, "size=64k,mode=0755"))
	for _, name := range devices {
		f, err := os.Create(filepath.Join(dev, name))
		must("device node", err)
		f.Close()
		must("bind /dev/"+name, syscall.Mount("/dev/"+name, filepath.Join(dev, name), "", syscall.MS_BIND, ""))
	}
	for name, link := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		must("link /dev/"+name, os.Symlink(link, filepath.Join(dev, name)))
	}
	// POSIX shared memory: pages count against the memory cgroup.
	must("mkdir /dev/shm", os.Mkdir(filepath.Join(dev, "shm"), 0o1777))
	must("mount /dev/shm", syscall.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=16m,mode=1777"))
	// /tmp is the scratch dir's, unless the sandbox's own dirs live
	// under /tmp: then it holds only their path (read-only, as the host's
	// /tmp was before), and TMPDIR is where temporary files go.
	if _, err := os.Lstat(root + "/tmp"); err != nil {
		must("link /tmp", os.Symlink(filepath.Join(writable[1], "tmp"), root+"/tmp"))
	}
	must("mkdir /proc", os.Mkdir(root+"/proc", 0o555))
	// Our own pid namespace's processes, not the host's. Mounted before
	// pivot_root: a user namespace may mount a proc only while a full one
	// is visible.
	must("mount /proc", syscall.Mount("proc", root+"/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""))
	if _, err := os.Stat("/sys/fs/cgroup"); err == nil {
		// Read-only below (the groups' cgroup.procs are nobody's).
		bind("/sys/fs/cgroup", root+"/sys/fs/cgroup", true)
		readOnly = append(readOnly, root+"/sys/fs/cgroup")
	}

	// Read-only pass over what came from the host's system dirs,
	// submounts included. A remount in a user namespace must keep the
	// flags the mount was locked with (nosuid, nodev, noexec, atime).
	mounts, err := readMountinfo()
	must("mountinfo", err)
	for _, m := range mounts {
		if !under(m.point, readOnly) || m.flags&syscall.MS_RDONLY != 0 {
			continue
		}
		must("read-only "+m.point, syscall.Mount("", m.point, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY|m.flags, ""))
	}
}

// bind mounts src at target (created), with its submounts when rec.
func bind(src, target string, rec bool) {
	fi, err := os.Stat(src)
	if err != nil {
		fail(fmt.Sprintf("bind %s: %v", src, err))
	}
	if fi.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
		var f *os.File
		if f, err = os.Create(target); err == nil {
			f.Close()
		}
	}
	if err != nil {
		fail(fmt.Sprintf("bind %s: %v", src, err))
	}
	flags := uintptr(syscall.MS_BIND)
	if rec {
		flags |= syscall.MS_REC
	}
	if err := syscall.Mount(src, target, "", flags, ""); err != nil {
		fail(fmt.Sprintf("bind %s: %v", src, err))
	}
}

// under says whether p is one of dirs or below one.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// pivot makes root the filesystem root, drops the host's, and makes the
// new root itself read-only (its dirs are mount points and links only).
func pivot(root string) error {
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("pivot: %w", err)
	}
	if err := syscall.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("pivot: %w", err)
	}
	if err := syscall.Unmount("/.old", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("drop the host root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return fmt.Errorf("pivot: %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		return fmt.Errorf("read-only root: %w", err)
	}
	return nil
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
