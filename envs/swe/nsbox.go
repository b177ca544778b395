package swe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NamespaceConfig configures the namespace backend.
type NamespaceConfig struct {
	// Dir holds the per-episode sandbox directories; default os.TempDir().
	Dir string
	// GoCache is a Go build cache shared by all episodes (content
	// addressed, so sharing is safe and saves seconds per test run);
	// default Dir/envgym-swe-gocache.
	GoCache string
	// GoRoot is the Go toolchain made visible (read-only); default /usr/local/go.
	GoRoot   string
	MemoryMB int     // cgroup memory limit; default 2048
	MaxPids  int     // cgroup pids limit (threads count); default 512
	CPUs     float64 // cgroup CPU quota in cores; default 2
	// CgroupDir is the path under each cgroup v1 hierarchy (memory, pids,
	// cpu) where each command gets its group; default "envgym-swe". Under
	// the plugin host, the subtree it delegated (wire.EnvCgroupDir).
	CgroupDir string
	// DiskMB bounds what an episode can write (workspace, scratch, its
	// build cache layer): the size of its tmpfs; default 1024.
	DiskMB int
}

// sandboxUID is the host uid the sandbox's root maps to: nobody, so host
// files owned by root stay out of reach even where a mount is writable.
const sandboxUID = 65534

// Namespace runs commands as root in fresh user, mount, pid, net, ipc and
// uts namespaces with cgroup v1 limits; no Docker needed. The sandbox's
// root is the host's nobody; every mount but the workspace, a scratch dir
// and the shared Go cache is remounted read-only; the net namespace has
// only a loopback that is down.
type Namespace struct {
	cfg   NamespaceConfig
	init  string // the nsinit binary
	cache *sharedCache
}

// WarmCache builds repo's tests into the shared build cache once, so
// test runs in the sandboxes do not rebuild the standard library.
func (n *Namespace) WarmCache(ctx context.Context, repo string) error { return n.cache.warm(ctx, repo) }

// NewNamespace checks that the machine supports the backend.
func NewNamespace(cfg NamespaceConfig) (*Namespace, error) {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	if cfg.GoCache == "" {
		cfg.GoCache = filepath.Join(cfg.Dir, "envgym-swe-gocache")
	}
	if cfg.GoRoot == "" {
		cfg.GoRoot = "/usr/local/go"
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 2048
	}
	if cfg.MaxPids <= 0 {
		cfg.MaxPids = 512
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 2
	}
	if cfg.CgroupDir == "" {
		cfg.CgroupDir = "envgym-swe"
	}
	if cfg.DiskMB <= 0 {
		cfg.DiskMB = 1024
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: the namespace backend needs root (cgroup v1 and uid maps)", ErrSandbox)
	}
	for _, h := range cgroupHierarchies {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("%w: cgroup v1 %s hierarchy: %w", ErrSandbox, h, err)
		}
		if err := os.MkdirAll(filepath.Join("/sys/fs/cgroup", h, cfg.CgroupDir), 0o755); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.GoRoot, "bin", "go")); err != nil {
		return nil, fmt.Errorf("%w: Go toolchain: %w", ErrSandbox, err)
	}
	cache, err := newSharedCache(cfg.GoCache, cfg.GoRoot)
	if err != nil {
		return nil, err
	}
	init, err := ensureNSInit(context.Background(), cfg.GoRoot, cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Namespace{cfg: cfg, init: init, cache: cache}, nil
}

var cgroupHierarchies = []string{"memory", "pids", "cpu"}

// Name implements Backend.
func (n *Namespace) Name() string { return "namespace" }

// Start implements Backend: it makes the sandbox's directories.
func (n *Namespace) Start(ctx context.Context) (Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	dir, err := os.MkdirTemp(n.cfg.Dir, "envgym-swe-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	fs, err := mountEpisodeFS(dir, n.cfg.DiskMB, n.cache.dir, false)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &nsSandbox{cfg: n.cfg, init: n.init, dir: dir, fs: fs, id: filepath.Base(dir)}, nil
}

type nsSandbox struct {
	cfg    NamespaceConfig
	init   string
	dir    string
	fs     *episodeFS
	id     string
	runs   int
	closed bool
}

func (s *nsSandbox) Workspace() string { return s.fs.workspace() }
func (s *nsSandbox) scratch() string   { return s.fs.scratch() }

func (s *nsSandbox) Exec(ctx context.Context, cmdline string, opts ExecOptions) (ExecResult, error) {
	if s.closed {
		return ExecResult{}, fmt.Errorf("%w: sandbox closed", ErrSandbox)
	}
	opts = opts.withDefaults()
	s.runs++
	cg := fmt.Sprintf("%s/%s-%d", s.cfg.CgroupDir, s.id, s.runs)
	if err := s.makeCgroups(cg); err != nil {
		s.removeCgroups(cg)
		return ExecResult{}, err
	}
	defer s.removeCgroups(cg)

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	// The namespaces' first process is nsinit (nsinit/main.go): it joins
	// the command's cgroups, makes the filesystem read-only but the
	// writable dirs with mount(2) and execs the command's shell in the
	// workspace.
	cmd := exec.Command(s.init, cmdline)
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=" + filepath.Join(s.cfg.GoRoot, "bin") + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + filepath.Join(s.scratch(), "home"),
		"TMPDIR=" + filepath.Join(s.scratch(), "tmp"),
		"GOCACHE=" + s.fs.goCache(),
		"GOPATH=" + filepath.Join(s.scratch(), "gopath"),
		"GOROOT=" + s.cfg.GoRoot,
		"GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local", "GOTELEMETRY=off", "CGO_ENABLED=0",
		"SWE_WS=" + s.Workspace(), "SWE_SCRATCH=" + s.scratch(), "SWE_ROOT=" + s.fs.root(),
		"SWE_CGROUPS=" + strings.Join(s.cgroupProcs(cg), ":"),
		"LANG=C.UTF-8",
	}
	out := &capWriter{max: opts.MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: sandboxUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: sandboxUID, Size: 1}},
		// Become the namespace's root, which is the host's nobody.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return ExecResult{}, fmt.Errorf("%w: start: %w", ErrSandbox, err)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	timedOut := false
	select {
	case werr = <-done:
	case <-ctx.Done():
		timedOut = true
		// The process is the pid namespace's init: killing it kills
		// everything inside; the group kill is belt and braces.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
		s.killCgroup(cg)
		werr = <-done
	}
	res := ExecResult{Output: out.buf.Bytes(), Truncated: out.truncated, Duration: time.Since(start), TimedOut: timedOut}
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		return res, fmt.Errorf("%w: wait: %w", ErrSandbox, werr)
	}
	if res.ExitCode == 125 && !timedOut {
		return res, fmt.Errorf("%w: sandbox set-up failed: %s", ErrSandbox, strings.TrimSpace(string(res.Output)))
	}
	return res, nil
}

func (s *nsSandbox) makeCgroups(cg string) error {
	limits := map[string][][2]string{
		"memory": {{"memory.limit_in_bytes", strconv.Itoa(s.cfg.MemoryMB << 20)}},
		"pids":   {{"pids.max", strconv.Itoa(s.cfg.MaxPids)}},
		"cpu":    {{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", strconv.Itoa(int(s.cfg.CPUs * 100000))}},
	}
	for _, h := range cgroupHierarchies {
		dir := filepath.Join("/sys/fs/cgroup", h, cg)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("%w: cgroup: %w", ErrSandbox, err)
		}
		for _, kv := range limits[h] {
			if err := os.WriteFile(filepath.Join(dir, kv[0]), []byte(kv[1]), 0o644); err != nil {
				return fmt.Errorf("%w: cgroup limit: %w", ErrSandbox, err)
			}
		}
	}
	// The command's init joins them itself, before anything else: cgroup
	// v1 lets a process move only processes of its own uid unless it is
	// the host's root, and under the plugin sandbox we are not (our root
	// is an unprivileged host uid, the sandbox's is nobody).
	for _, p := range s.cgroupProcs(cg) {
		if err := os.Chown(p, sandboxUID, sandboxUID); err != nil {
			return fmt.Errorf("%w: cgroup: %w", ErrSandbox, err)
		}
	}
	return nil
}

// cgroupProcs are the cgroup.procs files of the command's groups.
func (s *nsSandbox) cgroupProcs(cg string) []string {
	var out []string
	for _, h := range cgroupHierarchies {
		out = append(out, filepath.Join("/sys/fs/cgroup", h, cg, "cgroup.procs"))
	}
	return out
}

// killCgroup kills every process left in the pids cgroup.
func (s *nsSandbox) killCgroup(cg string) {
	b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", cg, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (s *nsSandbox) removeCgroups(cg string) {
	for i := 0; i < 50; i++ {
		s.killCgroup(cg)
		left := false
		for _, h := range cgroupHierarchies {
			dir := filepath.Join("/sys/fs/cgroup", h, cg)
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				left = true
			}
		}
		if !left {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *nsSandbox) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.fs.unmount()
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("swe: remove sandbox dir: %w", rerr))
	}
	return err
}

// randomID names things that must not collide across processes.
func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
