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
	"mount": func(string) string {
		if err := syscall.Mount("tmpfs", "/mnt", "tmpfs", 0, ""); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	},
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
	sdk.ServeEnv(gym.Spec{ID: "test/hostile-v0", Version: "0.0.1"}, func(context.Context, map[string]any) (gym.Env, error) {
		return &env{}, nil
	})
}
