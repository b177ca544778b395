package swe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Container labels: every SWE sandbox container carries labelSandbox;
// labelOwner names the process that made it (host/pid/start time, as that
// process numbers itself), and labelLock the owner's lock file, which the
// owner holds (flock) while it lives. A later process tells leftovers of a
// dead owner from live sandboxes of a neighbour by the lock, not the pid:
// processes in different PID namespaces (every plugin has its own) number
// each other differently, and a pid rule removed live neighbours.
const (
	labelSandbox = "envgym.swe"
	labelOwner   = "envgym.swe.owner"
	labelLock    = "envgym.swe.lock"
)

// DockerConfig configures the Docker backend. The Docker daemon must run
// on this host: the workspace is a host directory bind-mounted into the
// container.
type DockerConfig struct {
	// Image is the sandbox image; default the base image EnsureBaseImage
	// builds from GoRoot and host tools (no registry is used).
	Image string
	// Dir holds the per-episode workspaces; default os.TempDir().
	Dir string
	// GoCache is a Go build cache shared by all episodes, mounted at
	// /gocache; default Dir/envgym-swe-gocache (the namespace backend's,
	// so both backends share one warm cache).
	GoCache  string
	GoRoot   string  // toolchain put in the base image; default /usr/local/go
	MemoryMB int     // memory limit, swap included; default 2048
	MaxPids  int     // pids limit; default 512
	CPUs     float64 // CPU quota in cores; default 2
	// DiskMB bounds what an episode can write (/work, /tmp, its build
	// cache layer): the size of its tmpfs on the host; default 1024.
	// (overlay2's storage-opt size needs xfs with project quotas; the
	// read-only root makes the container layer moot anyway.)
	DiskMB int
	// Warm is how many started containers wait for the next Start, so
	// Reset does not pay the container start; default 0.
	Warm int
}

// Docker runs each sandbox in its own container: no network, memory,
// pids and CPU limits, read-only root with the workspace, the build cache
// and a /tmp tmpfs writable, all capabilities dropped, no new privileges,
// commands as nobody (65534) while the container's init runs as another
// unprivileged user (65533) that nobody cannot signal. Containers are
// labelled, removed on Close, and removed by the next backend made on
// this host when their owner process died; they also end themselves
// (and are auto-removed) after a day.
type Docker struct {
	cfg   DockerConfig
	cli   *client.Client
	owner string
	lock  *os.File // held (flock) until Close; its path is labelLock
	// lockPath is lock's name, kept for containers made after Close.
	lockPath string
	cache    *sharedCache

	mu     sync.Mutex
	pool   []*dockerSandbox
	refill int // refills in flight
	closed bool
	wg     sync.WaitGroup
	stop   context.CancelFunc
	bg     context.Context
}

// NewDocker connects to the Docker daemon (DOCKER_HOST or the default
// socket), removes leftover sandboxes of dead processes, and makes sure
// the base image exists. An unreachable daemon is an error wrapping
// ErrSandbox that says so.
func NewDocker(ctx context.Context, cfg DockerConfig) (*Docker, error) {
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
	if cfg.DiskMB <= 0 {
		cfg.DiskMB = 1024
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: docker client: %w", ErrSandbox, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = cli.Ping(pctx)
	cancel()
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: Docker is unreachable at %s (is dockerd running? scripts/setup.sh starts it): %w", ErrSandbox, cli.DaemonHost(), err)
	}
	lock, err := ownerLock(cfg.Dir)
	if err != nil {
		cli.Close()
		return nil, err
	}
	d := &Docker{cfg: cfg, cli: cli, owner: ownerID(), lock: lock, lockPath: lock.Name()}
	fail := func(err error) (*Docker, error) {
		cli.Close()
		d.unlock()
		return nil, err
	}
	if err := d.Sweep(ctx); err != nil {
		return fail(err)
	}
	if d.cfg.Image == "" {
		if d.cfg.Image, err = EnsureBaseImage(ctx, cli, cfg.GoRoot); err != nil {
			return fail(err)
		}
	}
	if d.cache, err = newSharedCache(cfg.GoCache, cfg.GoRoot); err != nil {
		return fail(err)
	}
	d.bg, d.stop = context.WithCancel(context.WithoutCancel(ctx))
	d.fill()
	return d, nil
}

// Name implements Backend.
func (d *Docker) Name() string { return "docker" }

// WarmCache builds repo's tests into the shared build cache once, so
// test runs in the sandboxes do not rebuild the standard library.
func (d *Docker) WarmCache(ctx context.Context, repo string) error { return d.cache.warm(ctx, repo) }

// Image is the image sandboxes run.
func (d *Docker) Image() string { return d.cfg.Image }

// Owner is the owner label value of this backend's containers.
func (d *Docker) Owner() string { return d.owner }

// ownerID names this process: host, pid and the pid's start time (so a
// reused pid is not taken for the old owner).
func ownerID() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s/%d/%s", host, pid, procStart(pid))
}

// ownerLock creates and locks this backend's lock file in dir: the
// kernel releases it when the process dies, however it dies.
func ownerLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "envgym-swe-owner-"+randomID()+".lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: owner lock: %w", ErrSandbox, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%w: owner lock: %w", ErrSandbox, err)
	}
	return f, nil
}

// unlock releases and removes the lock file.
func (d *Docker) unlock() {
	if d.lock != nil {
		os.Remove(d.lock.Name())
		d.lock.Close()
		d.lock = nil
	}
}

// ownUserNamespace says whether this process runs in a user namespace
// other than the host's (the plugin sandbox's, which comes with a mount
// namespace of its own): the initial one maps every id to itself.
func ownUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
}

// procStart is field 22 of /proc/pid/stat (start time in ticks), "" when
// the process does not exist.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// Sweep removes SWE sandbox containers whose owner is gone: its lock
// file exists and nobody holds it (a crashed plugin's leftovers). Live
// neighbours' containers are left alone, and so are those whose lock this
// process cannot see (another file view, such as another plugin's
// sandbox, or a lock removed with its temporary directory): those end
// themselves after a day.
func (d *Docker) Sweep(ctx context.Context) error {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelSandbox))})
	if err != nil {
		return fmt.Errorf("%w: list containers: %w", ErrSandbox, err)
	}
	var errs []error
	dead := map[string]bool{}
	for _, c := range list {
		p := c.Labels[labelLock]
		gone, seen := dead[p]
		if !seen {
			gone = p != "" && lockFree(p)
			dead[p] = gone
		}
		if !gone {
			continue
		}
		if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: remove leftover sandboxes: %w", ErrSandbox, err)
	}
	for p, gone := range dead {
		if gone {
			os.Remove(p)
		}
	}
	return nil
}

// lockFree says whether the lock file at p exists and nobody holds it.
func lockFree(p string) bool {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close() // releases the lock taken here
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// Close removes the warm containers and closes the client. Sandboxes
// already handed out stay usable until their own Close.
func (d *Docker) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	pool := d.pool
	d.pool = nil
	d.mu.Unlock()
	d.stop()
	d.wg.Wait()
	var errs []error
	for _, s := range pool {
		errs = append(errs, s.Close())
	}
	// Refills that finished after the first look.
	d.mu.Lock()
	pool, d.pool = d.pool, nil
	d.mu.Unlock()
	for _, s := range pool {
		errs = append(errs, s.Close())
	}
	errs = append(errs, d.removeNeverStarted())
	d.cli.Close()
	d.unlock()
	return errors.Join(errs...)
}

// removeNeverStarted removes this backend's containers that never ran
// (a failed start whose removal the engine did not finish): sandboxes
// handed out are running and stay.
func (d *Docker) removeNeverStarted() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelLock+"="+d.lockPath), filters.Arg("status", "created"))})
	if err != nil {
		return fmt.Errorf("swe: list containers: %w", err)
	}
	var errs []error
	for _, c := range list {
		if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
			errs = append(errs, fmt.Errorf("swe: remove container: %w", err))
		}
	}
	return errors.Join(errs...)
}

// fill starts refills until the pool plus refills in flight reach Warm.
func (d *Docker) fill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.closed && len(d.pool)+d.refill < d.cfg.Warm {
		d.refill++
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			s, err := d.start(d.bg)
			d.mu.Lock()
			d.refill--
			if err != nil || d.closed {
				d.mu.Unlock()
				if s != nil {
					s.Close()
				}
				return
			}
			d.pool = append(d.pool, s)
			d.mu.Unlock()
		}()
	}
}

// Start implements Backend: a warm container when one waits, else a new one.
func (d *Docker) Start(ctx context.Context) (Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: docker backend closed", ErrSandbox)
	}
	pool := d.pool
	d.pool = nil
	d.mu.Unlock()
	defer d.fill()
	// A warm container may have died while it waited (killed, OOM, the
	// engine restarted): hand out a live one only.
	for i, s := range pool {
		if s.Alive(ctx) == nil {
			d.mu.Lock()
			d.pool = append(pool[i+1:], d.pool...)
			d.mu.Unlock()
			return s, nil
		}
		s.Close()
	}
	s, err := d.start(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *Docker) start(ctx context.Context) (*dockerSandbox, error) {
	dir, err := os.MkdirTemp(d.cfg.Dir, "envgym-swe-docker-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	// dockerd binds the episode's dirs by path in the host's mount
	// namespace: a tmpfs mounted in a namespace of our own (the plugin
	// sandbox's) would leave it the empty directory under it.
	fs, err := mountEpisodeFS(dir, d.cfg.DiskMB, d.cache.dir, ownUserNamespace())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &dockerSandbox{d: d, dir: dir, fs: fs}
	if err := s.create(ctx); err != nil {
		fs.unmount()
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

type dockerSandbox struct {
	d      *Docker
	dir    string
	fs     *episodeFS
	id     string
	closed bool
}

func (s *dockerSandbox) Workspace() string { return s.fs.workspace() }

// Alive reports an error when the sandbox's container no longer runs.
func (s *dockerSandbox) Alive(ctx context.Context) error {
	if s.closed {
		return fmt.Errorf("%w: sandbox closed", ErrSandbox)
	}
	insp, err := s.d.cli.ContainerInspect(ctx, s.id)
	if err != nil {
		return fmt.Errorf("%w: container: %w", ErrSandbox, err)
	}
	if insp.State == nil || !insp.State.Running || insp.State.Paused {
		st := "unknown"
		if insp.State != nil {
			st = insp.State.Status
		}
		return fmt.Errorf("%w: container %.12s is %s", ErrSandbox, s.id, st)
	}
	return nil
}

// create makes and starts the container (again, after a kill).
func (s *dockerSandbox) create(ctx context.Context) error {
	c := s.d.cfg
	pids := int64(c.MaxPids)
	yes := true
	// The engine may create the container after a cancelled request
	// gave up (a Close cancels refills in flight): the request runs to its
	// end, and the container goes if ctx ended meanwhile, else it would be
	// left in the Created state with no id to remove it by.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	resp, err := s.d.cli.ContainerCreate(cctx, &container.Config{
		Image: c.Image,
		// The init (docker-init, reaping orphans) and this sleep run as
		// 65533, out of reach of commands run as 65534.
		User:       "65533:65533",
		Cmd:        []string{"sleep", "86400"},
		WorkingDir: "/work",
		Hostname:   "sandbox",
		Labels:     map[string]string{labelSandbox: "sandbox", labelOwner: s.d.owner, labelLock: s.d.lockPath},
	}, &container.HostConfig{
		NetworkMode:    "none",
		AutoRemove:     true,
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Init:           &yes,
		IpcMode:        "private",
		// Everything writable is in the episode's one size-limited tmpfs.
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: s.Workspace(), Target: "/work"},
			{Type: mount.TypeBind, Source: filepath.Join(s.fs.scratch(), "tmp"), Target: "/tmp"},
			{Type: mount.TypeBind, Source: s.fs.goCache(), Target: "/gocache"},
		},
		Resources: container.Resources{
			Memory:     int64(c.MemoryMB) << 20,
			MemorySwap: int64(c.MemoryMB) << 20,
			PidsLimit:  &pids,
			NanoCPUs:   int64(c.CPUs * 1e9),
		},
	}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("%w: create container: %w", ErrSandbox, err)
	}
	s.id = resp.ID
	if err := ctx.Err(); err != nil {
		s.remove()
		return fmt.Errorf("%w: create container: %w", ErrSandbox, err)
	}
	if err := s.d.cli.ContainerStart(ctx, s.id, container.StartOptions{}); err != nil {
		s.remove()
		return fmt.Errorf("%w: start container: %w", ErrSandbox, err)
	}
	return nil
}

func (s *dockerSandbox) remove() error {
	if s.id == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.d.cli.ContainerRemove(ctx, s.id, container.RemoveOptions{Force: true})
	s.id = ""
	if err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		return fmt.Errorf("swe: remove container: %w", err)
	}
	return nil
}

// dockerWrapper runs the command, then kills whatever it left running,
// so background processes never outlive their command, as in the
// namespace backend. kill -1 reaches every process of its uid but itself
// (the container's init runs as another uid). One pass is enough: the
// kernel walks the process list under the lock fork needs, and a
// process with a pending SIGKILL cannot fork. (It cannot be looped "until
// nothing is left": kill -1 succeeds while processes it may not signal
// exist.)
const dockerWrapper = `/bin/sh -c "$1"
rc=$?
kill -9 -1 2>/dev/null
kill -9 -1 2>/dev/null
exit $rc
`

var dockerEnv = []string{
	"PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin",
	"HOME=/tmp", "TMPDIR=/tmp", "GOCACHE=/gocache", "GOPATH=/tmp/gopath", "GOROOT=/usr/local/go",
	"GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local", "GOTELEMETRY=off", "CGO_ENABLED=0",
	"LANG=C.UTF-8",
}

// Exec implements Sandbox with docker exec, as nobody, in /work.
func (s *dockerSandbox) Exec(ctx context.Context, cmdline string, opts ExecOptions) (ExecResult, error) {
	if s.closed {
		return ExecResult{}, fmt.Errorf("%w: sandbox closed", ErrSandbox)
	}
	opts = opts.withDefaults()
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ex, err := s.d.cli.ContainerExecCreate(tctx, s.id, container.ExecOptions{
		User: "65534:65534", AttachStdout: true, AttachStderr: true, WorkingDir: "/work",
		Env: dockerEnv, Cmd: []string{"/bin/sh", "-c", dockerWrapper, "sh", cmdline},
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("%w: exec create: %w", ErrSandbox, err)
	}
	hj, err := s.d.cli.ContainerExecAttach(tctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("%w: exec attach: %w", ErrSandbox, err)
	}
	out := &capWriter{max: opts.MaxOutput}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, hj.Reader)
		copied <- err
	}()
	timedOut := false
	select {
	case <-copied:
	case <-tctx.Done():
		timedOut = true
		kerr := s.killAll()
		hj.Close()
		<-copied
		if kerr != nil {
			return ExecResult{}, kerr
		}
	}
	hj.Close()
	res := ExecResult{Output: out.buf.Bytes(), Truncated: out.truncated, TimedOut: timedOut, ExitCode: -1}
	if !timedOut {
		ictx, icancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer icancel()
		for {
			insp, err := s.d.cli.ContainerExecInspect(ictx, ex.ID)
			if err != nil {
				return res, fmt.Errorf("%w: exec inspect: %w", ErrSandbox, err)
			}
			if !insp.Running {
				res.ExitCode = insp.ExitCode
				break
			}
			select {
			case <-ictx.Done():
				return res, fmt.Errorf("%w: exec still running after its output ended", ErrSandbox)
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// killAll ends every process of the sandbox user, from inside; when that
// cannot start (a fork bomb holds every pid), the container is replaced
// by a fresh one on the same workspace.
func (s *dockerSandbox) killAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ex, err := s.d.cli.ContainerExecCreate(ctx, s.id, container.ExecOptions{
		User: "65534:65534", AttachStdout: true, AttachStderr: true,
		Cmd: []string{"/bin/sh", "-c", "kill -9 -1; kill -9 -1; echo done"},
	})
	if err == nil {
		h, aerr := s.d.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
		if err = aerr; err == nil {
			w := &capWriter{max: 64}
			stdcopy.StdCopy(w, w, h.Reader)
			h.Close()
			if !strings.Contains(w.buf.String(), "done") {
				err = errors.New("kill did not finish")
			}
		}
	}
	if err == nil {
		return nil
	}
	if rerr := s.remove(); rerr != nil {
		return fmt.Errorf("%w: replace container: %w", ErrSandbox, rerr)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	return s.create(cctx)
}

// Close removes the container and the workspace.
func (s *dockerSandbox) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.remove()
	err = errors.Join(err, s.fs.unmount())
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("swe: remove sandbox dir: %w", rerr))
	}
	return err
}
