package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// exposeReadOnly makes host paths visible, read-only and at the same
// path, inside the mount namespace of pid (a running plugin's). A file is
// exposed with its folder (a task file names pages beside it). Paths the
// plugin already sees as they are on the host are left alone. Each path
// is cloned in the host's namespace (open_tree), then the host thread
// joins the plugin's namespace and attaches the clone there (move_mount):
// the plugin sees only what its user named, never the cover lifted.
func exposeReadOnly(pid int, paths []string) error {
	var dirs []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue // the env says the file is missing, better than we could
		}
		d := p
		if !st.IsDir() {
			d = filepath.Dir(p)
		}
		if st.Mode().Perm()&0o004 == 0 {
			return fmt.Errorf("%s is not readable by others (mode %v): plugins run as an unprivileged uid of their own; make it readable (chmod o+r, and o+x on its folders) or pass a copy", p, st.Mode().Perm())
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		// The thread changes its file-system context for good: never
		// unlocked, the runtime ends it after this goroutine.
		runtime.LockOSThread()
		errc <- exposeOnThread(pid, dirs)
	}()
	return <-errc
}

// exposable refuses folders too broad to hand over whole.
func exposable(dir string) error {
	switch filepath.Clean(dir) {
	case "/", "/root", "/home", "/tmp", "/etc", "/var", "/proc", "/sys", "/dev", "/run":
		return fmt.Errorf("%s is too broad to show a plugin: put the files in a folder of their own", dir)
	}
	return nil
}

func exposeOnThread(pid int, dirs []string) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	type clone struct {
		fd       int
		dir      string
		dev, ino uint64
	}
	var clones []clone
	defer func() {
		for _, c := range clones {
			unix.Close(c.fd)
		}
	}()
	for _, d := range dirs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return err
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, d, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("clone %s: %w", d, err)
		}
		clones = append(clones, clone{fd: fd, dir: d, dev: st.Dev, ino: st.Ino})
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("read-only %s: %w", d, err)
		}
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return fmt.Errorf("the plugin's mount namespace: %w", err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter the plugin's mount namespace: %w", err)
	}
	for _, c := range clones {
		var st unix.Stat_t
		if err := unix.Stat(c.dir, &st); err == nil && st.Dev == c.dev && st.Ino == c.ino {
			continue // already visible as it is
		}
		if err := exposable(c.dir); err != nil {
			return err
		}
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			if errors.Is(err, unix.EROFS) {
				return fmt.Errorf("%s: no place for it in the sandbox (under a read-only host folder that hides it)", c.dir)
			}
			return fmt.Errorf("mount point %s: %w", c.dir, err)
		}
		if err := unix.MoveMount(c.fd, "", unix.AT_FDCWD, c.dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("attach %s: %w", c.dir, err)
		}
	}
	return nil
}
