package plugins

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/envgym/envgym/plugins/sandboxinit"
)

// The plugin's view of the host's files. A plugin process gets its own
// mount namespace, built on a dedicated, locked OS thread of the host
// right before the fork (Go cannot run code between fork and exec), in
// which:
//
//   - every mount of the host is read-only, the cgroup hierarchies
//     included, and /proc/sys (the sandbox init then mounts a proc of the
//     plugin's PID namespace over /proc);
//   - the Docker socket is /dev/null unless sandbox.docker;
//   - /root, /home, /tmp, /etc/ssh and the plugin directory are empty
//     tmpfs, /etc/shadow and /etc/gshadow are /dev/null, and /dev is a
//     tmpfs with only the character devices programs expect (null, zero,
//     full, random, urandom, tty), its own devpts instance (pts, ptmx) and
//     a private /dev/shm: no disk device to read the host's files through,
//     no terminal of the host's;
//   - writable: the private /tmp, the plugin's scratch directory (its
//     TMPDIR, at the same path inside and out so that sockets and paths it
//     hands to the host or to dockerd mean the same file), its cache
//     directory ($XDG_CACHE_HOME or ~/.cache, then envgym/NAME) and the
//     manifest's sandbox.writable paths;
//   - visible read-only: its own plugin folder and sandbox.read_only.
//
// The capabilities that would undo this are dropped by the sandbox init
// (package sandboxinit), which first needs them to mount its proc; a
// root plugin keeps its capabilities in a user namespace of its own,
// whose copy of this mount namespace has every mount locked.

// fsPolicy is what a plugin may see and write.
type fsPolicy struct {
	pluginDir string   // the plugin's own folder (read-only)
	scratch   string   // TMPDIR, writable, persistent per plugin name
	cache     string   // writable cache directory, persistent
	writable  []string // manifest's extra writable host paths
	readOnly  []string // manifest's extra visible host paths
	docker    bool     // the Docker socket stays (sandbox.docker)
	// dockerBroker is the host path of the plugin's Docker broker's
	// socket, bound over the engine's sockets; "" keeps the engine's.
	dockerBroker string
	// delegated cgroup directories, bound writable over the read-only
	// cgroup tree (a root plugin's subtree, cgroup_linux.go)
	delegated []string
	// shareCovers: the plugin runs in a copy of this namespace (a root
	// plugin's user namespace), where the cover tmpfs are slaves of
	// these: folders the host attaches under them later (option paths)
	// reach the copy, their read-only flag locked there.
	shareCovers bool
}

// dockerSockets are hidden (/dev/null) unless the manifest asks for
// Docker, and then the plugin's broker is bound over them.
var dockerSockets = []string{"/run/docker.sock", "/var/run/docker.sock"}

// engineSockets are the existing Docker sockets, each file once
// (/var/run is usually a link to /run).
func engineSockets() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range dockerSockets {
		r, err := filepath.EvalSymlinks(s)
		if err != nil || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}

// bindDockerBroker binds the broker's socket over the engine's in the
// calling thread's mount namespace.
func bindDockerBroker(socket string) error {
	if socket == "" {
		return nil
	}
	for _, s := range engineSockets() {
		if err := unix.Mount(socket, s, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("sandbox: bind the Docker broker over %s: %w", s, err)
		}
	}
	return nil
}

// hiddenDirs are covered with an empty tmpfs.
var hiddenDirs = []string{"/root", "/home", "/tmp", "/etc/ssh"}

// hiddenFiles are covered with /dev/null (the /proc ones again by the
// sandbox init, on the proc of the plugin's PID namespace).
var hiddenFiles = append([]string{"/etc/shadow", "/etc/gshadow"}, sandboxinit.ProcHidden...)

// devNodes are bound from the host's /dev into the sandbox's.
// (/dev/ptmx is a link into the sandbox's own devpts instance.)
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// startInMountNS runs start on a new locked OS thread that first moved
// into a fresh mount namespace set up by policy. The thread must outlive
// the process start launched (Pdeathsig fires when the forking thread
// exits), so it waits until release is called; then it exits without
// unlocking, and the runtime destroys it with its namespace.
func startInMountNS(pol fsPolicy, start func() error) (release func(), err error) {
	return startInThreadNS(func() error { return enterMountNS(pol) }, start)
}

// startInThreadNS is startInMountNS with the namespace made by enter.
func startInThreadNS(enter, start func() error) (release func(), err error) {
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: see startInMountNS
		if err := enter(); err != nil {
			errc <- err
			return
		}
		if err := start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		<-done
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	var once bool
	return func() {
		if !once {
			once = true
			close(done)
		}
	}, nil
}

// enterMountNS moves the calling (locked) thread into a new mount
// namespace built by pol, and drops the capabilities listed above.
func enterMountNS(pol fsPolicy) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("sandbox: unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("sandbox: make mounts private: %w", err)
	}
	// Hold what will be hidden but must come back: an O_PATH descriptor
	// still names the host's file after a tmpfs covers its path.
	type bind struct {
		fd     int
		target string
		ro     bool
		dir    bool
	}
	var binds []bind
	hold := func(src, target string, ro bool) error {
		fd, err := unix.Open(src, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sandbox: %s: %w", src, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fmt.Errorf("sandbox: %s: %w", src, err)
		}
		binds = append(binds, bind{fd: fd, target: target, ro: ro, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR})
		return nil
	}
	defer func() {
		for _, b := range binds {
			unix.Close(b.fd)
		}
	}()
	for _, d := range []string{pol.scratch, pol.cache} {
		if err := hold(d, d, false); err != nil {
			return err
		}
	}
	for _, d := range pol.writable {
		if err := hold(d, d, false); err != nil {
			return err
		}
	}
	for _, d := range append([]string{pol.pluginDir}, pol.readOnly...) {
		if err := hold(d, d, true); err != nil {
			return err
		}
	}
	for _, n := range devNodes {
		if err := hold("/dev/"+n, "/dev/"+n, false); err != nil {
			return err
		}
	}
	null := -1
	for _, b := range binds {
		if b.target == "/dev/null" {
			null = b.fd
		}
	}

	// 1. Everything the host has mounted becomes read-only.
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.flags&unix.MS_RDONLY != 0 || m.fstype == "proc" || m.point == "/dev" || strings.HasPrefix(m.point, "/dev/") {
			continue
		}
		err := unix.Mount("", m.point, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|m.flags, "")
		if err != nil && m.point == "/" {
			return fmt.Errorf("sandbox: remount / read-only: %w", err)
		}
		// Other failures are mounts shadowed by a later one on the same
		// point (the one on top is remounted) or gone meanwhile.
	}
	if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("sandbox: /proc/sys: %w", err)
	}
	if err := unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("sandbox: /proc/sys read-only: %w", err)
	}

	// 2. Cover what the plugin must not see.
	hidden := append(append([]string{}, hiddenDirs...), filepath.Dir(pol.pluginDir))
	sort.Slice(hidden, func(i, j int) bool { return depth(hidden[i]) < depth(hidden[j]) })
	var covers []string
	for _, d := range hidden {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			if err := mkdirAllMountpoint(d); err != nil {
				continue // under a covered parent that cannot hold it: nothing to hide
			}
		}
		mode := "0755"
		if d == "/tmp" {
			mode = "1777"
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode="+mode); err != nil {
			return fmt.Errorf("sandbox: hide %s: %w", d, err)
		}
		covers = append(covers, d)
	}
	hideFiles := hiddenFiles
	if !pol.docker {
		hideFiles = append(append([]string{}, hiddenFiles...), dockerSockets...)
	}
	for _, f := range hideFiles {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		if err := unix.Mount(fdPath(null), f, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("sandbox: hide %s: %w", f, err)
		}
	}
	if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("sandbox: /dev: %w", err)
	}
	for _, d := range []string{"/dev/shm", "/dev/pts"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("sandbox: /dev/shm: %w", err)
	}
	// Its own pseudo-terminals (xterm needs them): a new devpts instance,
	// so the host's terminals are out of reach.
	if err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("sandbox: /dev/pts: %w", err)
	}
	for link, to := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(to, "/dev/"+link); err != nil {
			return fmt.Errorf("sandbox: /dev/%s: %w", link, err)
		}
	}

	// 3. Bring back what the plugin may use, shallowest first so deeper
	// binds land on top.
	sort.SliceStable(binds, func(i, j int) bool { return depth(binds[i].target) < depth(binds[j].target) })
	for _, b := range binds {
		if b.dir {
			if err := mkdirAllMountpoint(b.target); err != nil {
				return fmt.Errorf("sandbox: mount point %s: %w", b.target, err)
			}
		} else if err := touchMountpoint(b.target); err != nil {
			return fmt.Errorf("sandbox: mount point %s: %w", b.target, err)
		}
		if err := unix.Mount(fdPath(b.fd), b.target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("sandbox: bind %s: %w", b.target, err)
		}
		flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID)
		if b.ro {
			flags |= unix.MS_RDONLY
		}
		if strings.HasPrefix(b.target, "/dev/") {
			flags &^= unix.MS_NOSUID
		}
		if err := unix.Mount("", b.target, "", flags, ""); err != nil {
			return fmt.Errorf("sandbox: remount %s: %w", b.target, err)
		}
	}

	if err := bindWritable(pol.delegated); err != nil {
		return err
	}
	if err := bindDockerBroker(pol.dockerBroker); err != nil {
		return err
	}
	if pol.shareCovers {
		// Last, so that nothing mounted above propagates anywhere.
		for _, d := range covers {
			if err := unix.Mount("", d, "", unix.MS_SHARED, ""); err != nil {
				return fmt.Errorf("sandbox: share %s: %w", d, err)
			}
		}
	}

	// The capabilities that would undo this are dropped by the sandbox
	// init (sandboxinit_linux.go), which still needs them to mount its proc.
	return nil
}

// enterHostViewNS moves the calling (locked) thread into a new mount
// namespace for a plugin with the host's files (sandbox.host_files: swe):
// the host's mounts as they are, and those the host makes later (a slave
// of the host's), but every cgroup hierarchy is read-only except the
// delegated subtrees, bound writable onto themselves. A root plugin
// runs in a user namespace of its own whose mount namespace is a copy of
// this one with every mount locked (sandboxinit.UserNS), an unprivileged
// one without CAP_SYS_ADMIN: neither can undo that.
func enterHostViewNS(delegated []string, dockerBroker string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("sandbox: unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("sandbox: make mounts slaves: %w", err)
	}
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.fstype != "cgroup" && m.fstype != "cgroup2" && m.point != cgroupMount {
			continue
		}
		if err := unix.Mount("", m.point, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|m.flags, ""); err != nil {
			return fmt.Errorf("sandbox: remount %s read-only: %w", m.point, err)
		}
	}
	if err := bindDockerBroker(dockerBroker); err != nil {
		return err
	}
	return bindWritable(delegated)
}

// bindWritable binds each delegated cgroup directory writable onto
// itself, over the read-only hierarchy.
func bindWritable(delegated []string) error {
	for _, d := range delegated {
		if err := unix.Mount(d, d, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("sandbox: delegate %s: %w", d, err)
		}
		if err := unix.Mount("", d, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("sandbox: delegate %s writable: %w", d, err)
		}
	}
	return nil
}

// cgroupMount is where the cgroup hierarchies are mounted (a tmpfs).
const cgroupMount = "/sys/fs/cgroup"

// fdPath names an open descriptor of this thread for mount(2).
func fdPath(fd int) string { return fmt.Sprintf("/proc/thread-self/fd/%d", fd) }

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// mkdirAllMountpoint creates dir (and parents) where missing. It only
// succeeds inside the tmpfs layers: the host's own mounts are read-only.
func mkdirAllMountpoint(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	return os.MkdirAll(dir, 0o755)
}

func touchMountpoint(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

type mountPoint struct {
	point, fstype string
	flags         uintptr
}

// mountPoints lists this thread's mounts from /proc/thread-self/mountinfo
// (proc(5)) with the per-mount flags a bind remount must keep.
func mountPoints() ([]mountPoint, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	defer f.Close()
	var out []mountPoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 6 || len(postFields) < 1 {
			continue
		}
		m := mountPoint{point: unescapeMount(fields[4]), fstype: postFields[0]}
		for _, o := range strings.Split(fields[5], ",") {
			m.flags |= mountFlags[o]
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: mountinfo: %w", err)
	}
	return out, nil
}

var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME,
	"strictatime": unix.MS_STRICTATIME,
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountNamespaceSupported reports why plugins cannot get their own view
// of the host's files here ("" when they can): it needs root.
func MountNamespaceSupported() string {
	if os.Geteuid() != 0 {
		return "mount namespaces need root (the host runs as uid " + fmt.Sprint(os.Geteuid()) + ")"
	}
	// Root without CAP_SYS_ADMIN (a default Docker container, our own
	// image included) cannot unshare a mount namespace.
	if ok, err := hasCapSysAdmin(); err == nil && !ok {
		return "mount namespaces need CAP_SYS_ADMIN, which this process lacks (e.g. inside a container)"
	}
	return ""
}

// hasCapSysAdmin reads this process's effective capabilities.
func hasCapSysAdmin() (bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(hex), "%x", &caps); err != nil {
				return false, fmt.Errorf("CapEff %q: %w", hex, err)
			}
			return caps&(1<<unix.CAP_SYS_ADMIN) != 0, nil
		}
	}
	return false, errors.New("no CapEff line in /proc/self/status")
}

// CheckFileIsolation builds a plugin's mount namespace once, around a
// process that only has to start and exit (/bin/true), and reports why
// plugins cannot get their own view of the host's files here, or nil.
func CheckFileIsolation() error {
	if why := MountNamespaceSupported(); why != "" {
		return errors.New(why)
	}
	dir, err := os.MkdirTemp("", "envgym-sandbox-check-")
	if err != nil {
		return fmt.Errorf("sandbox check: %w", err)
	}
	defer os.RemoveAll(dir)
	pol := fsPolicy{pluginDir: filepath.Join(dir, "plugins", "check"), scratch: filepath.Join(dir, "scratch"), cache: filepath.Join(dir, "cache")}
	for _, d := range []string{pol.pluginDir, pol.scratch, pol.cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("sandbox check: %w", err)
		}
	}
	cmd := exec.Command("/bin/true")
	release, err := startInMountNS(pol, cmd.Start)
	if err != nil {
		return err
	}
	defer release()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("sandbox check: /bin/true in the plugin sandbox: %w", err)
	}
	return nil
}

// NamespacesSupported says why this process cannot give plugins their own
// PID, IPC and UTS namespaces ("" when it can): that takes CAP_SYS_ADMIN,
// which a default container (our images) does not grant. Plugins then
// start without them, and gym doctor and gym list say so.
func NamespacesSupported() string {
	ok, err := hasCapSysAdmin()
	switch {
	case err != nil:
		return "cannot read this process's capabilities: " + err.Error()
	case !ok:
		return "no CAP_SYS_ADMIN (a default container): plugins share this PID, IPC and UTS namespace"
	}
	return ""
}
