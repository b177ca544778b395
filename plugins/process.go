package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins/sandboxinit"
	"github.com/envgym/envgym/wire"
	"github.com/envgym/envgym/wire/pb"
)

// Plugin supervises one plugin binary: at most one live process at a
// time, started on first use and restarted on the next use after it died
// or was killed for hanging.
type Plugin struct {
	m   Manifest
	cfg Config

	mu       sync.Mutex
	proc     *process // nil when not running
	gen      int      // bumped on every start, so stale failure reports are ignored
	restarts int
	specs    []gym.Spec
	stderr   *tailBuffer
}

// process is one running plugin process.
type process struct {
	client *plugin.Client
	stub   pb.EnvPluginClient
	pid    int // the sandbox init (PID 1 of the plugin's namespace)
	// pluginPID is the plugin's own process (the init's child), as the
	// host sees it; 0 if it could not be found.
	pluginPID int
	cg        *cgroup
	cgErr     error // why cgroup limits could not be applied, if they could not
	gen       int
	socket    string        // the plugin's session socket, "" if it offers none
	files     bool          // own mount namespace (option paths are exposed into it)
	network   bool          // the host's network namespace (nothing to forward)
	fwd       *forwarder    // allowed_hosts ports of the host's loopback
	broker    *dockerBroker // sandbox.docker's Docker broker, nil if none
	// release lets the thread that forked the process (in the process's
	// mount namespace) exit; nil when the process shares the host's.
	release func()
}

// Manifest returns the plugin's manifest.
func (p *Plugin) Manifest() Manifest { return p.m }

// Restarts counts processes started after the first.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// PID of the running plugin process (as the host numbers it), 0 when
// none runs. Its parent is the sandbox init; killing either ends the
// whole tree.
func (p *Plugin) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	if p.proc.pluginPID > 0 {
		return p.proc.pluginPID
	}
	return p.proc.pid
}

// Limits describes the sandbox the running (or next) process gets.
func (p *Plugin) Limits() SandboxReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.m.Sandbox.Limits()
	r := SandboxReport{Network: s.Network, MemoryMB: s.MemoryMB, MaxPids: s.MaxPids, ProcessGroup: true, Cgroups: p.cfg.cgroups, Files: !s.HostFiles}
	if why := MountNamespaceSupported(); why != "" || s.HostFiles {
		r.Files = false
		r.FilesError = why
		if s.HostFiles {
			r.FilesError = "the manifest asks for the host's files (sandbox.host_files)"
		}
	}
	if p.proc != nil && p.proc.cgErr != nil {
		r.Cgroups = false
		r.CgroupError = p.proc.cgErr.Error()
	}
	if !p.cfg.cgroups {
		r.CgroupError = "cgroup v1 memory/pids not writable on this machine"
	}
	return r
}

// SandboxReport is what `gym list` shows of a plugin's isolation.
type SandboxReport struct {
	Network      bool   `json:"network"`
	MemoryMB     int    `json:"memory_mb"`
	MaxPids      int    `json:"max_pids"`
	ProcessGroup bool   `json:"process_group"`
	Cgroups      bool   `json:"cgroups"` // memory and pids limits enforced
	CgroupError  string `json:"cgroup_error,omitempty"`
	// Files: own mount namespace, host read-only, secrets hidden.
	Files      bool   `json:"files"`
	FilesError string `json:"files_error,omitempty"`
}

// conn returns the stub of a live process, starting one if needed.
func (p *Plugin) conn(ctx context.Context) (*process, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.client.Exited() {
		return p.proc, nil
	}
	if p.proc != nil {
		p.stopLocked(true)
	}
	return p.startLocked(ctx)
}

func (p *Plugin) startLocked(ctx context.Context) (*process, error) {
	bin := p.m.BinaryPath()
	// A binary is hashed and executed from one open file (hash.go).
	exe, err := p.m.openVerified()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.m.Name, err)
	}
	if exe != nil {
		defer exe.Close() // the init has its own copy once started
	}
	sb := p.m.Sandbox.Limits()
	initProg, err := initPath()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.m.Name, err)
	}
	files := !sb.HostFiles && MountNamespaceSupported() == ""
	// The scratch and cache directories exist in either case: HOME and
	// TMPDIR point there.
	pol, err := p.fsPolicy()
	if err != nil {
		return nil, err
	}
	uid := PluginUID(p.m.Name)
	// A root plugin is root of a user namespace of its own, whose root is
	// uid on the host (sandboxinit.UserNS), where the init can make it one:
	// its own PID namespace and proc.
	hostView := sb.HostFiles && MountNamespaceSupported() == "" && NamespacesSupported() == ""
	userns := rootInUserNS(sb)
	if !sb.Root || userns {
		// In a root plugin's, files of the other ids its namespace maps
		// stay theirs (swe's sandboxes write as nobody).
		var keep []int
		if userns {
			keep = rootPluginKeptIDs
		}
		for _, d := range []string{pol.scratch, pol.cache} {
			if err := ownTree(d, uid, uid, keep...); err != nil {
				return nil, fmt.Errorf("plugin %s: give its directory %s to uid %d: %w", p.m.Name, d, uid, err)
			}
		}
	}
	argv := []string{bin}
	env := pluginEnv(sb.Env, pol.scratch)
	var dir string
	if len(p.m.Interpreter) > 0 {
		// The interpreter is a system program; the checksum covers the
		// plugin's own files, checked above.
		argv = append(append(append([]string{p.m.Interpreter[0]}, pythonFlags(p.m.Interpreter[0])...), p.m.Interpreter[1:]...), bin)
		dir = filepath.Dir(p.m.Path())
		env = append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	}
	if argv[0], err = exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.m.Name, err)
	}
	// A plugin with the host's files still gets the cgroup tree read-only
	// but for its delegated subtree (enterHostViewNS), and a proc of its
	// own PID namespace: the host's would name other processes by the
	// numbers of its children (swe writes their uid maps there).
	// A root plugin's proc is uncovered too: its sandboxes mount procs in
	// user namespaces of their own, which the kernel allows only while a
	// proc is fully visible; with a euid that is not the host's root it
	// can write no /proc/sys file and read no /proc/kcore there.
	ic := sandboxinit.Config{Argv: argv, Dir: dir, UID: uid, GID: uid, Root: sb.Root, MountProc: files || hostView, ProcUncovered: hostView || sb.Root, LoopbackUp: !sb.Network}
	if userns {
		ic.UserNS = &sandboxinit.UserNS{HostUID: uid, Keep: rootPluginKeptIDs}
	}
	// sandbox.docker: a broker of its own instead of the engine's socket
	// (dockerbroker_linux.go), where its mount namespace can hide the
	// socket; it needs no docker group then.
	var broker *dockerBroker
	if ok, _ := dockerBrokered(sb); ok {
		if broker, err = startDockerBroker(p.m.Name, uid, pol); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", p.m.Name, err)
		}
		defer func() { // closed with the process, or here if none started
			if p.proc == nil || p.proc.broker != broker {
				broker.close()
			}
		}()
		pol.dockerBroker = broker.socket()
	}
	if g := groupID("docker"); sb.Docker && broker == nil && g >= 0 && !sb.Root {
		ic.Groups = []int{g}
	}
	var cg *cgroup
	var cgErr error
	var cgFiles []*os.File
	if p.cfg.cgroups {
		// A root plugin (swe) makes cgroups for its own sandboxes: it gets
		// a subtree of its group, and nothing else of the tree.
		owner := -1
		if userns {
			owner = uid
		}
		if cg, cgErr = newCgroup(p.cfg.CgroupRoot, p.m.Name+"-"+randomSuffix(), sb, sb.Root, owner); cgErr == nil {
			if cgFiles, cgErr = cg.procsFiles(); cgErr != nil {
				_ = cg.remove()
				cg = nil
			}
		}
	}
	defer func() {
		for _, f := range cgFiles {
			f.Close()
		}
	}()
	for i := range cgFiles {
		ic.CgroupFDs = append(ic.CgroupFDs, 3+i)
	}
	if cg != nil && cg.rel != "" {
		env = append(env, wire.EnvCgroupDir+"="+cg.rel)
	}
	extra := cgFiles
	if exe != nil {
		extra = append(extra[:len(extra):len(extra)], exe)
		ic.ExecFD = 3 + len(cgFiles)
	}
	icJSON, err := json.Marshal(ic)
	if err != nil {
		return nil, err
	}
	// The plugin starts under the sandbox's init (sandboxinit_linux.go): this
	// very program, re-executed. The checksum was verified just above;
	// go-plugin's SecureConfig would hash the init, not the plugin.
	cmd := exec.Command(initProg, string(icJSON))
	cmd.Args[0] = sandboxinit.Arg0
	if initProg != "/proc/self/exe" {
		// Executed through a descriptor opened here: the fork happens in
		// the plugin's mount namespace, where the init's folder may be
		// hidden (a gym under /home, /root or /tmp).
		f, err := os.Open(initProg)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: sandbox init: %w", p.m.Name, err)
		}
		defer f.Close()
		cmd.Path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	}
	cmd.Env = env
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // kill the whole tree (a browser) at once
		Pdeathsig: syscall.SIGKILL, // die with the host, even on kill -9
	}
	if NamespacesSupported() == "" {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	}
	if !sb.Network {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	}
	if p.stderr == nil {
		p.stderr = &tailBuffer{max: 8 << 10}
	}
	stderr := io.Writer(p.stderr)
	if p.cfg.PluginStderr != nil {
		stderr = io.MultiWriter(p.stderr, p.cfg.PluginStderr)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true, // pluginEnv: an allowlist, never the host's secrets
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     p.cfg.StartTimeout,
		Stderr:           stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin." + p.m.Name, Level: p.cfg.logLevel(), Output: os.Stderr}),
	})
	var rpc plugin.ClientProtocol
	connect := func() (err error) {
		rpc, err = client.Client()
		return err
	}
	var release func()
	switch {
	case files:
		if cg != nil {
			pol.delegated = cg.delegated
		}
		pol.shareCovers = userns
		release, err = startInMountNS(pol, connect)
	case hostView:
		var delegated []string
		if cg != nil {
			delegated = cg.delegated
		}
		release, err = startInThreadNS(func() error { return enterHostViewNS(delegated, pol.dockerBroker) }, connect)
	default:
		err = connect()
	}
	if err != nil {
		client.Kill()
		_ = cg.remove()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s: %w: the binary changed while starting", p.m.Name, ErrChecksum)
		}
		return nil, p.startError(err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		client.Kill()
		if release != nil {
			release()
		}
		cg.killAll()
		_ = cg.remove()
		return nil, fmt.Errorf("plugin %s: dispense: %w", p.m.Name, err)
	}
	if p.gen > 0 {
		p.restarts++
	}
	p.gen++
	proc := &process{client: client, stub: raw.(pb.EnvPluginClient), gen: p.gen, release: release, broker: broker}
	if rc := client.ReattachConfig(); rc != nil {
		proc.pid = rc.Pid
		proc.pluginPID = childOf(proc.pid, cg.pids())
	}
	proc.cg, proc.cgErr = cg, cgErr
	proc.files, proc.network, proc.fwd = files, sb.Network, newForwarder(proc.pid)
	p.proc = proc
	if err := p.describeLocked(ctx, proc); err != nil {
		p.stopLocked(true)
		return nil, err
	}
	return proc, nil
}

func (p *Plugin) describeLocked(ctx context.Context, proc *process) error {
	// Describe runs on every start: the session socket is per process.
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	resp, err := proc.stub.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return fmt.Errorf("plugin %s: describe: %w", p.m.Name, err)
	}
	specs := make([]gym.Spec, 0, len(resp.SpecsJson))
	for _, b := range resp.SpecsJson {
		var s gym.Spec
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("plugin %s: describe: spec: %w", p.m.Name, err)
		}
		specs = append(specs, s)
	}
	p.specs = specs
	proc.socket = resp.SessionSocket
	return nil
}

// Specs starts the plugin if needed and returns the specs it serves.
func (p *Plugin) Specs(ctx context.Context) ([]gym.Spec, error) {
	if _, err := p.conn(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.specs, nil
}

// ping asks the process for a sign of life within timeout.
func (p *Plugin) ping(proc *process, timeout time.Duration) error {
	if proc.client.Exited() {
		return errors.New("process exited")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := proc.stub.Describe(ctx, &pb.DescribeRequest{})
	return err
}

// checkHealth is called after a failed or timed-out call on proc: if the
// process is dead or does not answer a ping, it is killed so the next use
// starts a fresh one. It reports whether proc was found unhealthy.
func (p *Plugin) checkHealth(proc *process) bool {
	if err := p.ping(proc, p.cfg.PingTimeout); err == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == proc {
		p.stopLocked(true)
	}
	return true
}

// Stop kills the running process, if any.
func (p *Plugin) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked(false)
}

// stopLocked ends the process tree and waits for it, so no zombie or
// orphan survives. A healthy plugin is asked to exit first (its envs
// close their browsers); a broken one (force) is killed at once. Then
// SIGKILL goes to the process group and to every pid left in the cgroup.
func (p *Plugin) stopLocked(force bool) {
	proc := p.proc
	if proc == nil {
		return
	}
	p.proc = nil
	// go-plugin's graceful shutdown is an RPC without a deadline: never
	// attempt it on a process that does not answer a ping.
	if !force && p.ping(proc, p.cfg.PingTimeout) != nil {
		force = true
	}
	if force && proc.pid > 0 {
		_ = syscall.Kill(-proc.pid, syscall.SIGKILL)
	}
	proc.client.Kill()
	if proc.pid > 0 {
		_ = syscall.Kill(-proc.pid, syscall.SIGKILL)
	}
	proc.cg.killAll()
	proc.fwd.closeAll()
	if proc.release != nil {
		proc.release()
	}
	// Members of the cgroup may take a moment to be reaped by the kernel.
	for i := 0; i < 50 && len(proc.cg.pids()) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	_ = proc.cg.remove()
	_ = proc.broker.close()
}

// fsPolicy is the file view of this plugin's processes; it creates the
// scratch and cache directories they write to.
func (p *Plugin) fsPolicy() (fsPolicy, error) {
	sb := p.m.Sandbox
	if err := ValidateName(p.m.Name); err != nil {
		return fsPolicy{}, fmt.Errorf("plugin name: %w", err)
	}
	dirs := sandboxDirs(p.m.Name)
	// Before anything is created (or handed to the plugin's uid).
	if err := checkWritable(filepath.Dir(filepath.Dir(p.m.Path())), p.m.Name, sb.Writable); err != nil {
		return fsPolicy{}, err
	}
	pol := fsPolicy{
		pluginDir: filepath.Dir(p.m.Path()),
		scratch:   dirs[0],
		cache:     dirs[1],
		writable:  sb.Writable,
		readOnly:  sb.ReadOnly,
		docker:    sb.Docker,
	}
	for _, d := range []string{pol.scratch, pol.cache} {
		// 0755: sandboxes the plugin runs as nobody (swe) must traverse it.
		if err := os.MkdirAll(d, 0o755); err != nil {
			return pol, fmt.Errorf("plugin %s: sandbox directory: %w", p.m.Name, err)
		}
	}
	return pol, nil
}

// crashInfo is the tail of the plugin's stderr, for error messages.
func (p *Plugin) crashInfo() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// pythonFlags are the flags a Python interpreter gets: no PYTHON*
// variables, no user site directory, no byte code written into the
// plugin's folder (whose caches the checksum covers: hash.go). Not -I:
// it would drop the script's folder from sys.path, where the SDK is.
func pythonFlags(interpreter string) []string {
	if strings.HasPrefix(filepath.Base(interpreter), "python") {
		return []string{"-E", "-s", "-B", "-u"}
	}
	return nil
}
