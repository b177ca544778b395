package sandboxinit

import (
	"fmt"
	"runtime"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The seccomp filter of every plugin process tree: a deny list on top of
// the default allow, as Docker's default profile is in spirit (an
// allowlist would break every browser and interpreter release). Denied
// calls fail with EPERM.
//
// The filter is assembled by github.com/elastic/go-seccomp-bpf (pure Go,
// maintained by Elastic for Beats/Auditbeat; it knows the syscall tables
// and refuses the x32 ABI). Its program lets calls of a foreign
// architecture through to the default action, which here would be a way
// around the list (int 0x80 from a 64-bit process), so a check of our own
// in front refuses every architecture but the native one.

// deniedSyscalls no plugin needs: debugging other processes, the kernel's
// key rings, BPF and perf, kernel images and modules, the clocks,
// swap, reboot, accounting, file handles across mounts.
var deniedSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"keyctl", "add_key", "request_key",
	"bpf", "perf_event_open", "userfaultfd",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"clock_settime", "clock_adjtime", "settimeofday", "adjtimex",
	"swapon", "swapoff", "reboot", "acct", "syslog", "quotactl", "lookup_dcookie", "vhangup",
	"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm",
}

// mountSyscalls are denied too, except to root plugins (sandbox.root),
// whose own sandboxes (swe's namespace backend) are built of mounts.
var mountSyscalls = []string{
	"mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
	"fspick", "fsconfig", "mount_setattr",
}

// seccompProgram assembles the filter for a root or an unprivileged plugin.
func seccompProgram(root bool) ([]unix.SockFilter, error) {
	names := append([]string{}, deniedSyscalls...)
	if !root {
		names = append(names, mountSyscalls...)
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls:      []seccomp.SyscallGroup{{Action: seccomp.ActionErrno, Names: names}},
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	native, err := arch.GetInfo(runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	const archOffset = 4 // struct seccomp_data: nr, arch, ...
	guard := []bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	}
	raw, err := bpf.Assemble(append(guard, insns...))
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// loadSeccomp sets no_new_privs and loads the filter on every thread of
// this process; children inherit it.
func loadSeccomp(root bool) error {
	prog, err := seccompProgram(root)
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp: load filter: %w", e)
	}
	if r != 0 { // TSYNC: the id of a thread that could not take the filter
		return fmt.Errorf("seccomp: thread %d could not take the filter", r)
	}
	return nil
}
