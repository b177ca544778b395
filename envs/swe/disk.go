package swe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// episodeFS is one episode's size-limited filesystem, the same in both
// backends: a tmpfs of DiskMB mounted by the host at the sandbox dir,
// holding the workspace (ws/), the scratch dir (scratch/: TMPDIR, HOME,
// GOPATH) and gocache/, an overlay whose lower layer is the shared Go
// build cache (read-only) and whose writable upper layer lives in the
// tmpfs. So everything a command can write counts against one limit
// (a disk filler gets ENOSPC there, and the host disk never fills), and
// no episode can change what the next one finds in the build cache.
//
// Where the process may not mount (root without CAP_SYS_ADMIN), or where
// the tmpfs would be out of sight of whoever uses the episode's paths
// (dockerd, when we run in a mount namespace of our own: the plugin
// sandbox), the episode falls back to plain directories and the shared
// cache written directly, as before the limit existed: the episode works
// but has no disk limit (limited() is false).
type episodeFS struct {
	dir       string
	shared    string // the shared cache, used directly when not mounted
	unlimited bool
}

// Layout inside the episode's tmpfs.
const (
	fsWorkspace = "ws"
	fsScratch   = "scratch"
	fsGoCache   = "gocache"
	fsUpper     = ".gocache-upper"
	fsWork      = ".gocache-work"
	// fsRoot is where the namespace backend assembles each command's
	// root filesystem (nsinit); empty and unused on the host side.
	fsRoot = ".root"
)

// mountEpisodeFS mounts the episode filesystem at dir (an existing,
// empty directory) over the shared cache; with plain, it makes plain
// directories there instead.
func mountEpisodeFS(dir string, sizeMB int, sharedCache string, plain bool) (*episodeFS, error) {
	// Inodes are bounded too (64 per MiB), so a million empty files
	// cannot stand in for a disk filler.
	opts := fmt.Sprintf("size=%dm,nr_inodes=%d,mode=0755", sizeMB, sizeMB*64)
	f := &episodeFS{dir: dir, shared: sharedCache}
	if plain {
		return f.plainDirs()
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		if !errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("%w: mount episode tmpfs: %w", ErrSandbox, err)
		}
		return f.plainDirs()
	}
	fail := func(err error) (*episodeFS, error) {
		f.unmount()
		return nil, fmt.Errorf("%w: episode filesystem: %w", ErrSandbox, err)
	}
	for _, d := range []string{fsWorkspace, fsScratch, fsScratch + "/tmp", fsScratch + "/home", fsUpper, fsWork, fsGoCache, fsRoot} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			return fail(err)
		}
		if d == fsWork || d == fsRoot {
			continue // overlay's own, root's; a mount point
		}
		if err := os.Chown(p, sandboxUID, sandboxUID); err != nil {
			return fail(err)
		}
	}
	ov := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", sharedCache, filepath.Join(dir, fsUpper), filepath.Join(dir, fsWork))
	if err := syscall.Mount("overlay", filepath.Join(dir, fsGoCache), "overlay", syscall.MS_NOSUID|syscall.MS_NODEV, ov); err != nil {
		return fail(fmt.Errorf("mount build cache overlay: %w", err))
	}
	return f, nil
}

// plainDirs lays the episode out in plain directories of dir, without a
// limit.
func (f *episodeFS) plainDirs() (*episodeFS, error) {
	f.unlimited = true
	for _, d := range []string{fsWorkspace, fsScratch, fsScratch + "/tmp", fsScratch + "/home", fsRoot} {
		p := filepath.Join(f.dir, d)
		err := os.Mkdir(p, 0o755)
		if err == nil && d != fsRoot {
			err = os.Chown(p, sandboxUID, sandboxUID)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: episode dirs: %w", ErrSandbox, err)
		}
	}
	return f, nil
}

func (f *episodeFS) workspace() string { return filepath.Join(f.dir, fsWorkspace) }
func (f *episodeFS) scratch() string   { return filepath.Join(f.dir, fsScratch) }
func (f *episodeFS) root() string      { return filepath.Join(f.dir, fsRoot) }
func (f *episodeFS) goCache() string {
	if f.unlimited {
		return f.shared
	}
	return filepath.Join(f.dir, fsGoCache)
}

// limited says whether the episode's writes are bounded by its tmpfs.
func (f *episodeFS) limited() bool { return !f.unlimited }

// unmount detaches the overlay and the tmpfs (lazily, so a process still
// dying in the sandbox cannot keep them busy); the tmpfs's memory is
// freed when the last user is gone.
func (f *episodeFS) unmount() error {
	if f.unlimited {
		return nil
	}
	var errs []error
	for _, p := range []string{f.goCache(), f.dir} {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swe: episode filesystem: %w", err)
	}
	return nil
}

// sharedCache is the Go build cache both backends read through each
// episode's overlay. Sandboxes never write it; the host fills it by
// compiling each task repo's tests once, as the sandbox user, with the
// sandboxes' toolchain and build settings, so the standard-library
// packages a test run needs are already built (the test packages
// themselves are per episode).
type sharedCache struct {
	dir, goroot string

	mu     sync.Mutex
	warmed map[string]bool
}

func newSharedCache(dir, goroot string) (*sharedCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	if err := os.Chown(dir, sandboxUID, sandboxUID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	return &sharedCache{dir: dir, goroot: goroot, warmed: map[string]bool{}}, nil
}

// sandboxBuildEnv are the build settings of every sandbox command; the
// warm-up uses the same, so its cache entries are the ones tests look up.
var sandboxBuildEnv = []string{
	"GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local", "GOTELEMETRY=off", "CGO_ENABLED=0",
	"LANG=C.UTF-8",
}

// warm compiles the tests of repo (without running them) into the shared
// cache, once per repo: per process, and across processes through a
// marker file next to the cache.
func (c *sharedCache) warm(ctx context.Context, repo string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warmed[repo] {
		return nil
	}
	h := sha256.Sum256([]byte(repo + "\x00" + c.goroot))
	markers := c.dir + ".warm"
	marker := filepath.Join(markers, hex.EncodeToString(h[:8]))
	if _, err := os.Stat(marker); err == nil {
		c.warmed[repo] = true
		return nil
	}
	// A nobody-readable copy: repos usually live under root's cache dir.
	tmp, err := os.MkdirTemp(filepath.Dir(c.dir), "envgym-swe-warm-")
	if err != nil {
		return fmt.Errorf("swe: warm build cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("swe: warm build cache: %w", err)
	}
	if err := copyTree(repo, src); err != nil {
		return err
	}
	if err := chownTree(tmp); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.goroot, "bin", "go"), "test", "-count=1", "-vet=off", "-c", "-o", filepath.Join(tmp, "bin")+"/", "./...")
	cmd.Dir = src
	cmd.Env = append([]string{
		"PATH=" + filepath.Join(c.goroot, "bin") + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + tmp, "TMPDIR=" + tmp, "GOPATH=" + filepath.Join(tmp, "gopath"),
		"GOCACHE=" + c.dir, "GOROOT=" + c.goroot,
	}, sandboxBuildEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: sandboxUID, Gid: sandboxUID, NoSetGroups: true}, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("swe: warm build cache for %s: %w: %s", repo, err, bytes.TrimSpace(out.Bytes()))
	}
	if err := os.MkdirAll(markers, 0o755); err == nil {
		os.WriteFile(marker, []byte(repo+"\n"), 0o644)
	}
	c.warmed[repo] = true
	return nil
}

// DiskLimited says whether this sandbox's writes are bounded by its own
// tmpfs (false in the plugin sandbox's fallback; see episodeFS).
func (s *nsSandbox) DiskLimited() bool { return s.fs.limited() }

// DiskLimited says whether this sandbox's writes are bounded by its own
// tmpfs (false in the plugin sandbox's fallback; see episodeFS).
func (s *dockerSandbox) DiskLimited() bool { return s.fs.limited() }
