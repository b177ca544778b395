// Package sandboxinit is the init of a plugin's sandbox: the first
// process of the plugin's namespaces, which confines itself and then
// starts the plugin. It is kept small (no gRPC, no libtorch) because it
// runs once per plugin start: cmd/gym-sandbox-init is its whole program;
// a host without that binary beside it re-executes itself
// (plugins.SandboxInitMain).
package sandboxinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox init. A plugin is not started directly: the host re-executes
// its own program (/proc/self/exe) as the init of the plugin's new PID,
// IPC, UTS and network namespaces (and, unless sandbox.host_files, inside
// the plugin's mount namespace). Running as root, before any code of the
// plugin, the init
//
//   - mounts a proc of the new PID namespace (the host's processes vanish
//     from /proc) and covers its secrets again;
//   - brings loopback up;
//   - drops every capability from the bounding set (root plugins: those
//     a sandboxing env does not need), becomes the plugin's own
//     unprivileged uid (sandbox.root keeps root), sets no_new_privs and
//     loads the seccomp filter of seccomp_linux.go;
//   - starts the plugin as its only child (a root plugin as root of a
//     user namespace of its own, UserNS, whose root is its unprivileged
//     uid on the host), reaps every orphan of the
//     namespace, forwards SIGTERM/SIGINT, and exits with the plugin: the
//     kernel then kills whatever is left in the namespace (a setsid
//     daemon included).
//
// A hostile plugin runs none of our code, so all of this happens here,
// before the plugin's first instruction.

// Arg0 is argv[0] of the init; argv[1] is its Config as JSON.
const Arg0 = "envgym-sandbox-init"

// ProcHidden are files of a proc covered with /dev/null.
var ProcHidden = []string{"/proc/sysrq-trigger", "/proc/kcore"}

// RootDroppedCaps leave the init of a root plugin root over its files but
// without the power to undo its mounts or look outside them. (A plugin
// in a user namespace of its own, UserNS, starts with every capability
// of that namespace and none of the host's.)
var RootDroppedCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH, unix.CAP_SYS_MODULE,
	unix.CAP_SYS_RAWIO, unix.CAP_SYS_BOOT, unix.CAP_SYS_TIME, unix.CAP_MAC_ADMIN,
	unix.CAP_MAC_OVERRIDE, unix.CAP_SYSLOG, unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_MKNOD,
	unix.CAP_LINUX_IMMUTABLE, unix.CAP_SYS_PACCT, unix.CAP_AUDIT_CONTROL, unix.CAP_WAKE_ALARM,
	unix.CAP_BLOCK_SUSPEND, unix.CAP_CHECKPOINT_RESTORE,
}

// Main runs the init and never returns when this process was started as
// one (argv[0] is Arg0); otherwise it returns at once.
func Main() {
	if len(os.Args) < 2 || os.Args[0] != Arg0 {
		return
	}
	var cfg Config
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "envgym sandbox init: bad configuration: %v\n", err)
		os.Exit(125)
	}
	code, err := run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "envgym sandbox init: %v\n", err)
		os.Exit(125)
	}
	os.Exit(code)
}

// Config is what the host tells the init (argv[1], JSON).
type Config struct {
	Argv []string `json:"argv"` // the plugin's program and arguments
	Dir  string   `json:"dir"`
	// UID, GID: the plugin's identity; ignored when Root.
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups,omitempty"` // supplementary (the docker group)
	Root   bool  `json:"root"`
	// MountProc: the init runs in the plugin's own mount namespace and
	// mounts a proc of its PID namespace there.
	MountProc bool `json:"mount_proc"`
	// ProcUncovered: the proc is mounted without the covers over its
	// secrets. A root plugin that builds its own sandboxes (swe) mounts
	// procs in user namespaces, which the kernel refuses while a visible
	// proc has locked mounts on it (mount_too_revealing).
	ProcUncovered bool `json:"proc_uncovered,omitempty"`
	LoopbackUp    bool `json:"loopback_up"`
	// ExecFD, when set, is the descriptor of the plugin binary the host
	// opened and hashed: it is executed, not the path in Argv[0] (hash.go).
	ExecFD int `json:"exec_fd,omitempty"`
	// CgroupFDs are open cgroup.procs files of the plugin's groups: the
	// init joins them before it starts the plugin.
	CgroupFDs []int `json:"cgroup_fds,omitempty"`
	// UserNS, with Root: the plugin is root of a user namespace of its
	// own (and of a mount namespace it owns), not of the host's.
	UserNS *UserNS `json:"userns,omitempty"`
}

// UserNS is the user namespace a root plugin runs in: its root is the
// unprivileged HostUID (= gid) on the host, and each id of Keep maps to
// itself (swe's sandboxes run as nobody, 65534). No id maps to the host's
// 0, so the plugin's euid is never the host's root: it cannot write
// /proc/sys, read root's files or signal other users' processes, whatever
// capabilities it holds in its namespace. Its supplementary groups are
// Config.Groups (the docker group, for the engine's socket), set by the
// init and left unmapped: setgroups is denied in the namespace, so the
// plugin can neither drop them nor give a file such a group (a setgid
// docker program in its scratch dir would be Docker for any local user).
type UserNS struct {
	HostUID int   `json:"host_uid"`
	Keep    []int `json:"keep,omitempty"`
}

// sysProcAttr clones the plugin into the namespace: the init, root of
// the host's user namespace, writes the maps; the plugin's mount
// namespace is a copy of the init's, every mount locked in it.
func (u *UserNS) sysProcAttr() *syscall.SysProcAttr {
	maps := func(keep []int) []syscall.SysProcIDMap {
		m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: u.HostUID, Size: 1}}
		for _, id := range keep {
			if id != 0 {
				m = append(m, syscall.SysProcIDMap{ContainerID: id, HostID: id, Size: 1})
			}
		}
		return m
	}
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: maps(u.Keep),
		GidMappings: maps(u.Keep),
		// /proc/PID/setgroups "deny": the init's groups stay.
		GidMappingsEnableSetgroups: false,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Pdeathsig:                  syscall.SIGKILL,
	}
}

func run(cfg Config) (int, error) {
	if len(cfg.Argv) == 0 {
		return 0, errors.New("no plugin program")
	}
	// Capabilities (bounding set) are per thread and the child is forked
	// from this one.
	runtime.LockOSThread()
	for _, fd := range cfg.CgroupFDs {
		_, err := unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return 0, fmt.Errorf("join cgroup: %w", err)
		}
	}
	if cfg.MountProc {
		if err := mountOwnProc(!cfg.ProcUncovered); err != nil {
			return 0, err
		}
	}
	if cfg.LoopbackUp {
		if err := loopbackUp(); err != nil {
			return 0, fmt.Errorf("bring loopback up: %w", err)
		}
	}
	drop := allCaps()
	if cfg.Root {
		drop = RootDroppedCaps
	}
	for _, c := range drop {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return 0, fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if cfg.Root && cfg.UserNS != nil {
		// The plugin keeps these (the host root's are dropped).
		if err := syscall.Setgroups(cfg.Groups); err != nil {
			return 0, fmt.Errorf("setgroups: %w", err)
		}
	}
	if !cfg.Root {
		if err := syscall.Setgroups(cfg.Groups); err != nil {
			return 0, fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(cfg.GID, cfg.GID, cfg.GID); err != nil {
			return 0, fmt.Errorf("setgid %d: %w", cfg.GID, err)
		}
		if err := syscall.Setresuid(cfg.UID, cfg.UID, cfg.UID); err != nil {
			return 0, fmt.Errorf("setuid %d: %w", cfg.UID, err)
		}
		// A change of uid clears the parent-death signal the host set.
		// (getppid is 0 in a new PID namespace: there is no telling here
		// whether the host died meanwhile; its cgroup kill covers that.)
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
			return 0, fmt.Errorf("pdeathsig: %w", err)
		}
	}
	// Not dumpable until exec: no process of the same uid attaches to the
	// init. (exec makes the plugin dumpable again; the SDK clears it.)
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("dumpable: %w", err)
	}
	if err := loadSeccomp(cfg.Root); err != nil {
		return 0, err
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	exe := cfg.Argv[0]
	if cfg.ExecFD > 0 {
		// Closed by the exec, after the kernel opened the file through it.
		unix.CloseOnExec(cfg.ExecFD)
		exe = fmt.Sprintf("/proc/self/fd/%d", cfg.ExecFD)
	}
	attr := &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	}
	if cfg.Root && cfg.UserNS != nil {
		attr.Sys = cfg.UserNS.sysProcAttr()
	}
	pid, err := syscall.ForkExec(exe, cfg.Argv, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	go func() {
		for s := range sigs {
			_ = syscall.Kill(pid, s.(syscall.Signal))
		}
	}()
	// Reap every process of the namespace; end with the plugin.
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait: %w", err)
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
}

// mountOwnProc replaces the host's /proc (inherited from the mount
// namespace) with one of the plugin's PID namespace, covered like the
// host's was when cover.
func mountOwnProc(cover bool) error {
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	if !cover {
		return nil
	}
	for _, f := range ProcHidden {
		if _, err := os.Stat(f); err == nil {
			if err := unix.Mount("/dev/null", f, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("hide %s: %w", f, err)
			}
		}
	}
	if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("/proc/sys: %w", err)
	}
	if err := unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("/proc/sys read-only: %w", err)
	}
	return nil
}

// loopbackUp brings "lo" up: a fresh network namespace has it down, and
// envs serve their pages to their own browser over it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// allCaps is every capability the kernel may know.
func allCaps() []uintptr {
	caps := make([]uintptr, 0, 64)
	for c := uintptr(0); c <= 63; c++ {
		caps = append(caps, c)
	}
	return caps
}
