package dockerbroker

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A bind mount source is checked where the plugin cannot change it
// afterwards: the engine resolves a source path when the container
// starts, and a plugin owns the directories under its roots, so a path
// checked at create could be a symbolic link to / by then. So the broker
// opens the source beneath its root (openat2 RESOLVE_BENEATH: no "..",
// no absolute or escaping link), binds what it opened onto a fresh
// directory only root can reach (PinDir), and hands the engine that
// path. Renames under the plugin's roots no longer matter: the pin holds
// the directory that was checked.

// root is one directory mount sources must lie beneath, held open.
type root struct {
	path string
	fd   int
}

func openRoots(paths []string) ([]root, error) {
	var out []root
	for _, p := range paths {
		p = filepath.Clean(p)
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeRoots(out)
			return nil, fmt.Errorf("docker broker: root %s: %w", p, err)
		}
		out = append(out, root{p, fd})
	}
	return out, nil
}

func closeRoots(rs []root) {
	for _, r := range rs {
		unix.Close(r.fd)
	}
}

// pin resolves src beneath one of the roots and binds it into PinDir,
// returning the pinned path.
func (b *Broker) pin(src string) (string, error) {
	b.mu.Lock()
	roots := b.roots
	b.mu.Unlock()
	var names []string
	for _, rt := range roots {
		names = append(names, rt.path)
		rel := ""
		switch {
		case src == rt.path:
			rel = "."
		case strings.HasPrefix(src, rt.path+"/"):
			rel = src[len(rt.path)+1:]
		default:
			continue
		}
		fd, err := unix.Openat2(rt.fd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EXDEV) {
			return "", fmt.Errorf("it leaves %s (through \"..\" or a symbolic link)", rt.path)
		}
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "", err
		}
		target := b.pinName()
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = os.Mkdir(target, 0o700)
		case unix.S_IFREG:
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				f.Close()
			}
		default:
			return "", errors.New("only directories and regular files may be mounted")
		}
		if err != nil {
			return "", fmt.Errorf("pin: %w", err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/thread-self/fd/%d", fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			os.Remove(target)
			return "", fmt.Errorf("pin: bind: %w", err)
		}
		return target, nil
	}
	return "", fmt.Errorf("not beneath the plugin's own directories (%s)", strings.Join(names, ", "))
}

// unpinAll unmounts and removes pinned sources.
func unpinAll(ps []string) error {
	var errs []error
	for _, p := range ps {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("docker broker: unpin %s: %w", p, err))
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("docker broker: unpin: %w", err))
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hostMemory is MemTotal of /proc/meminfo in bytes; 1 TiB if unknown.
func hostMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1 << 40
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 1 << 40
}
