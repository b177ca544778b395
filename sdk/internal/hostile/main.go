// Command hostile is a test plugin that attacks its host, its siblings and
// the machine on demand, for plugins' hostile-plugin tests
// (plugins/hostile_test.go). Each action tries one attack and reports
// what happened in one line; it never panics:
//
//	env NAME            the value of a host environment variable, or "unset"
//	docker              talk to the Docker engine's socket (/_ping)
//	findproc TEXT       the pid of a process whose command line holds TEXT
//	kill PID            SIGKILL a process
//	ptrace PID          attach to a process, then open its memory for writing
//	cgroup-raise        raise its own memory limit to 16 GiB
//	cgroup-leave        move itself to the root memory and pids cgroups
//	cgroup-mkdir        make a group of its own at the top of the memory,
//	                    pids and cpu hierarchies (and remove it)
//	cgroup-delegate     make a group with a limit in the subtree the host
//	                    delegated ($ENVGYM_CGROUP_DIR; and remove it)
//	daemon TEXT         start a setsid child (sleep) meant to outlive it
//	cgroup-nest TEXT    start a sleep (argument TEXT) in a group it makes in
//	                    its delegated subtree, as swe's sandboxes are
//	userns              run /bin/true as root of new user, mount and PID
//	                    namespaces mapped to nobody, as swe's namespace
//	                    backend runs every command (root plugins only)
//	connect HOST:PORT   open a TCP connection and read a line
//	whoami              uid, capabilities, no_new_privs, seccomp mode
//	mount               mount a tmpfs on /mnt
//	sysctl              write /proc/sys/kernel/core_pattern (the value it
//	                    holds: a host root's write would change nothing)
//	userns-sysctl       the same from root of a new user namespace mapping
//	                    0 to its own uid, through a fresh proc it mounts
//	procfiles           open root's files of its proc: sysrq-trigger and
//	                    sys/vm/drop_caches for writing (writes nothing),
//	                    kcore and timer_list for reading
//	undo FILE           read FILE (a path option the host attached, with its
//	                    folder), then remount the folder writable and
//	                    unmount it
//	shadow              read /etc/shadow: directly, through /proc/1/root,
//	                    and from a new user and mount namespace after
//	                    unmounting its cover or binding /etc elsewhere
//
// Anything else echoes.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
	"github.com/envgym/envgym/wire"
)

type env struct{}

func (e *env) Reset(context.Context, gym.ResetOptions) (gym.Observation, error) {
	return gym.Observation{Text: "ready"}, nil
}

func (e *env) Step(ctx context.Context, action string) (gym.StepResult, error) {
	verb, arg, _ := strings.Cut(action, " ")
	text := "echo " + action
	if f, ok := attacks[verb]; ok {
		text = verb + " " + f(arg)
	}
	return gym.StepResult{Observation: gym.Observation{Text: text}}, nil
}

func (e *env) Spec() gym.Spec { return gym.Spec{ID: "test/hostile-v0", Version: "0.0.1"} }
func (e *env) Close() error   { return nil }

var attacks = map[string]func(string) string{
	"env": func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return "set " + v
		}
		return "unset"
	},
	"docker": func(string) string {
		var errs []string
		for _, sock := range []string{"/var/run/docker.sock", "/run/docker.sock"} {
			c, err := net.DialTimeout("unix", sock, 2*time.Second)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(c, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			return "ok " + strings.TrimSpace(line)
		}
		return "refused: " + strings.Join(errs, "; ")
	},
	"findproc": func(text string) string {
		es, err := os.ReadDir("/proc")
		if err != nil {
			return "error " + err.Error()
		}
		n := 0
		for _, e := range es {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			n++
			b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), text) {
				return "found " + e.Name()
			}
		}
		return fmt.Sprintf("none among %d processes", n)
	},
	"kill": func(arg string) string {
		pid, err := strconv.Atoi(arg)
		if err != nil {
			return "error " + err.Error()
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	},
	"ptrace": func(arg string) string {
		pid, err := strconv.Atoi(arg)
		if err != nil {
			return "error " + err.Error()
		}
		var out []string
		if err := syscall.PtraceAttach(pid); err != nil {
			out = append(out, "attach: "+err.Error())
		} else {
			out = append(out, "attach: ok")
			syscall.PtraceDetach(pid)
		}
		if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0); err != nil {
			out = append(out, "mem: "+err.Error())
		} else {
			f.Close()
			out = append(out, "mem: ok")
		}
		return strings.Join(out, "; ")
	},
	"cgroup-raise": func(string) string {
		dir := ownCgroup("memory")
		if dir == "" {
			return "error no memory cgroup"
		}
		if err := os.WriteFile(dir+"/memory.limit_in_bytes", []byte(strconv.Itoa(16<<30)), 0o644); err != nil {
			return "error " + err.Error()
		}
		return "ok " + dir
	},
	"cgroup-leave": func(string) string {
		var out []string
		for _, c := range []string{"memory", "pids"} {
			err := os.WriteFile("/sys/fs/cgroup/"+c+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0o644)
			if err != nil {
				out = append(out, c+": "+err.Error())
			} else {
				out = append(out, c+": ok")
			}
		}
		return strings.Join(out, "; ")
	},
	"cgroup-mkdir": func(string) string {
		var out []string
		for _, c := range []string{"memory", "pids", "cpu"} {
			dir := fmt.Sprintf("/sys/fs/cgroup/%s/envgym-hostile-%d", c, os.Getpid())
			if err := os.Mkdir(dir, 0o755); err != nil {
				out = append(out, c+": "+err.Error())
				continue
			}
			os.Remove(dir)
			out = append(out, c+": ok")
		}
		return strings.Join(out, "; ")
	},
	"cgroup-delegate": func(string) string {
		rel := os.Getenv(wire.EnvCgroupDir)
		if rel == "" {
			return "error no delegated cgroup"
		}
		var out []string
		for _, c := range []string{"memory", "pids", "cpu"} {
			dir := fmt.Sprintf("/sys/fs/cgroup/%s/%s/box", c, rel)
			if err := os.Mkdir(dir, 0o755); err != nil {
				out = append(out, c+": "+err.Error())
				continue
			}
			limit := map[string][2]string{"memory": {"memory.limit_in_bytes", "104857600"}, "pids": {"pids.max", "10"}, "cpu": {"cpu.cfs_quota_us", "50000"}}[c]
			if err := os.WriteFile(dir+"/"+limit[0], []byte(limit[1]), 0o644); err != nil {
				out = append(out, c+": limit: "+err.Error())
			} else {
				out = append(out, c+": ok")
			}
			os.Remove(dir)
		}
		return strings.Join(out, "; ")
	},
	"cgroup-nest": func(text string) string {
		rel := os.Getenv(wire.EnvCgroupDir)
		if rel == "" {
			return "error no delegated cgroup"
		}
		cmd := exec.Command("/bin/sleep", text)
		if err := cmd.Start(); err != nil {
			return "error " + err.Error()
		}
		go cmd.Wait()
		for _, c := range []string{"memory", "pids", "cpu"} {
			dir := fmt.Sprintf("/sys/fs/cgroup/%s/%s/nest", c, rel)
			if err := os.Mkdir(dir, 0o755); err != nil {
				return "error " + err.Error()
			}
			if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				return "error " + err.Error()
			}
		}
		return "ok"
	},
	"userns": func(string) string {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
			Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		}
		if err := cmd.Run(); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	},
	"daemon": func(text string) string {
		cmd := exec.Command("/bin/sleep", text)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return "error " + err.Error()
		}
		go cmd.Wait()
		return "started " + strconv.Itoa(cmd.Process.Pid)
	},
	"connect": func(addr string) string {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return "error " + err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "error " + err.Error()
		}
		return "ok " + strings.TrimSpace(line)
	},
	"whoami": func(string) string {
		b, _ := os.ReadFile("/proc/self/status")
		fields := []string{fmt.Sprintf("uid=%d", os.Getuid())}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "CapEff", "CapBnd", "NoNewPrivs", "Seccomp":
				fields = append(fields, k+"="+strings.TrimSpace(v))
			}
		}
		return strings.Join(fields, " ")
	},
	"sysctl": func(string) string { return writeCorePattern() },
	"userns-sysctl": func(string) string {
		return inUserNS("--child-sysctl", syscall.CLONE_NEWPID)
	},
	"procfiles": func(string) string {
		var out []string
		for _, f := range []struct {
			path string
			flag int
		}{{"/proc/sysrq-trigger", os.O_WRONLY}, {"/proc/sys/vm/drop_caches", os.O_WRONLY}, {"/proc/kcore", os.O_RDONLY}, {"/proc/timer_list", os.O_RDONLY}} {
			h, err := os.OpenFile(f.path, f.flag, 0)
			if err != nil {
				out = append(out, f.path+": "+err.Error())
				continue
			}
			h.Close()
			out = append(out, f.path+": opened")
		}
		return strings.Join(out, "; ")
	},
	"undo": func(file string) string {
		var out []string
		read := func() {
			if _, err := os.ReadFile(file); err != nil {
				out = append(out, "read: "+err.Error())
			} else {
				out = append(out, "read: ok")
			}
		}
		read()
		dir := filepath.Dir(file)
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
			out = append(out, "remount writable: "+err.Error())
		} else {
			out = append(out, "remount writable: ok")
		}
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			out = append(out, "unmount: "+err.Error())
		} else {
			out = append(out, "unmount: ok")
		}
		read()
		return strings.Join(out, "; ")
	},
	"shadow": func(string) string {
		out := []string{"direct: " + readShadow("/etc/shadow"), "init root: " + readShadow("/proc/1/root/etc/shadow")}
		return strings.Join(append(out, inUserNS("--child-shadow", 0)), "; ")
	},
	"mount": func(string) string {
		if err := syscall.Mount("tmpfs", "/mnt", "tmpfs", 0, ""); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	},
}

// corePattern is where the kernel finds the program it runs, as the
// host's root, on every core dump: writing it is root on the host.
const corePattern = "/proc/sys/kernel/core_pattern"

// writeCorePattern writes back the value it reads.
func writeCorePattern() string {
	b, err := os.ReadFile(corePattern)
	if err != nil {
		return "read: " + err.Error()
	}
	if err := os.WriteFile(corePattern, b, 0o644); err != nil {
		return "write: " + err.Error()
	}
	return "write: ok"
}

// readShadow says whether path reads as a shadow file with root's entry.
func readShadow(path string) string {
	b, err := os.ReadFile(path)
	switch {
	case err != nil:
		return err.Error()
	case strings.Contains(string(b), "root:"):
		return "read root's entry"
	default:
		return fmt.Sprintf("%d bytes, no root entry", len(b))
	}
}

// inUserNS runs this program again (mode: a --child-* argument) as root
// of a new user and mount namespace (and flags') whose 0 is our own uid,
// which any process may map, and returns what it printed.
func inUserNS(mode string, flags uintptr) string {
	cmd := exec.Command("/proc/self/exe", mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("userns: %v %s", err, strings.TrimSpace(string(out)))
	}
	return "userns: " + strings.TrimSpace(string(out))
}

// child is the --child-* half of inUserNS.
func child(mode string) {
	switch mode {
	case "--child-sysctl":
		// A fresh proc of our new PID namespace, on /proc of our own
		// mount namespace.
		if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
			fmt.Println("mount proc:", err)
			return
		}
		fmt.Println("mount proc: ok;", writeCorePattern())
	case "--child-shadow":
		var out []string
		if err := syscall.Unmount("/etc/shadow", syscall.MNT_DETACH); err != nil {
			out = append(out, "unmount cover: "+err.Error())
		} else {
			out = append(out, "unmount cover: ok, "+readShadow("/etc/shadow"))
		}
		if err := syscall.Mount("/etc", "/mnt", "", syscall.MS_BIND, ""); err != nil {
			out = append(out, "bind /etc: "+err.Error())
		} else {
			out = append(out, "bind /etc: ok, "+readShadow("/mnt/shadow"))
		}
		fmt.Println(strings.Join(out, "; "))
	}
}

// ownCgroup is this process's cgroup v1 directory for controller.
func ownCgroup(controller string) string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == controller {
			return "/sys/fs/cgroup/" + controller + f[2]
		}
	}
	return ""
}

func main() {
	if len(os.Args) == 2 && strings.HasPrefix(os.Args[1], "--child-") {
		child(os.Args[1])
		return
	}
	sdk.ServeEnv(gym.Spec{ID: "test/hostile-v0", Version: "0.0.1"}, func(context.Context, map[string]any) (gym.Env, error) {
		return &env{}, nil
	})
}
