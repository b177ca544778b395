package plugins

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/envgym/envgym/gym"
)

// Hostile installs and hostile plugin folders (issue #18): names that
// are paths, writable paths over the plugin directory, planted byte code,
// symlinked modules and a binary swapped during start. Each test below
// failed on commit 6e6bf5c (checked in a worktree of that commit) and
// says how.

// pythonForPlugins is Debian's interpreter, whose python3-grpcio
// scripts/setup.sh installs.
const pythonForPlugins = "/usr/bin/python3"

// On 6e6bf5c: "." and ".." were removed (RemoveAll) before any check,
// deleting the installed plugins and the directory around them, and
// "plugins" installed fine.
func TestHostileNameRefusedAndNothingDeleted(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "plugins")
	if _, err := Install(context.Background(), filepath.Join(binDir, "gym-plugin-guess"), dir, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(parent, "other-cache", "keep")
	os.MkdirAll(filepath.Dir(keep), 0o755)
	os.WriteFile(keep, []byte("x"), 0o644)
	for _, name := range []string{"plugins", ".", "..", "../guess", "a/b", "Guess", "-x", strings.Repeat("a", 65)} {
		_, err := Install(context.Background(), filepath.Join(binDir, "gym-plugin-guess"), dir, InstallOptions{Name: name})
		if err == nil {
			t.Errorf("name %q: installed, want refused", name)
		}
		for _, f := range []string{keep, filepath.Join(dir, "guess", ManifestFile), filepath.Join(dir, "guess", "gym-plugin-guess")} {
			if _, serr := os.Stat(f); serr != nil {
				t.Fatalf("name %q (err %v): %s was removed", name, err, f)
			}
		}
	}
	// A manifest written by hand may not take a reserved name either, nor
	// one that is not its folder's.
	m, err := LoadManifest(filepath.Join(dir, "guess", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plugins", "..", "guess2"} {
		sub := filepath.Join(t.TempDir(), "guess")
		os.MkdirAll(sub, 0o755)
		b := fmt.Sprintf(`{"name":%q,"version":"1","binary":"gym-plugin-guess","sha256":%q,"envs":["example/guess-v0"]}`, name, m.SHA256)
		os.WriteFile(filepath.Join(sub, ManifestFile), []byte(b), 0o644)
		ms, errs := Discover(filepath.Dir(sub))
		if len(ms) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), `field "name"`) {
			t.Errorf("manifest named %q in folder guess: loaded %d, errors %v; want refused naming the field", name, len(ms), errs)
		}
	}
}

// On 6e6bf5c both installed and started: the plugin could then write the
// plugin directory (every plugin's binary and manifest).
func TestHostileWritableOverlapRefused(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "plugins")
	bin := filepath.Join(binDir, "gym-plugin-guess")
	for _, w := range []string{dir, parent, filepath.Join(dir, "guess")} {
		if _, err := Install(ctx, bin, dir, InstallOptions{Sandbox: Sandbox{Writable: []string{w}}}); err == nil || !strings.Contains(err.Error(), "overlaps the plugin directory") {
			t.Errorf("install with writable %s: err = %v, want refused (overlaps the plugin directory)", w, err)
		}
	}
	// A manifest changed after install is refused at start.
	m, err := Install(ctx, bin, dir, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Sandbox.Writable = []string{parent}
	if err := WriteManifest(m.Path(), m); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	_, err = h.Make(ctx, "example/guess-v0", nil)
	if err == nil || !strings.Contains(err.Error(), "overlaps the plugin directory") {
		t.Fatalf("start with sandbox.writable %s: err = %v, want refused", parent, err)
	}
	if p, _ := h.Plugin("example/guess-v0"); p.PID() != 0 {
		t.Fatal("a refused plugin is running")
	}
	// A cache directory that is the plugin directory: a plugin directory
	// named like a plugin under the cache tree (the "plugins" attack, in
	// general form).
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	clash := filepath.Join(cacheHome, "envgym", "guess")
	if _, err := Install(ctx, bin, clash, InstallOptions{}); err == nil || !strings.Contains(err.Error(), "overlaps the plugin directory") {
		t.Fatalf("install guess into its own cache directory %s: err = %v, want refused", clash, err)
	}
}

// installPython installs examples/python/guess under name into a fresh
// plugin directory.
func installPython(t *testing.T, name string) (dir string, m Manifest) {
	t.Helper()
	if out, err := exec.Command(pythonForPlugins, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		t.Fatalf("Python plugins need %s with python3-grpcio and python3-protobuf (scripts/setup.sh installs them): %v\n%s", pythonForPlugins, err, out)
	}
	dir = t.TempDir()
	m, err := Install(context.Background(), "../examples/python/guess/main.py", dir, InstallOptions{Name: name, Interpreter: []string{pythonForPlugins}})
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	return dir, m
}

// evilPython is a module that leaves marker behind when it runs.
func evilPython(marker string) string {
	return fmt.Sprintf("open(%q, 'w').write('ran')\nraise SystemExit(3)\n", marker)
}

// startFails starts the plugin serving id from dir and wants it refused
// for its checksum (or its files), with marker never written.
func startFails(t *testing.T, dir, id, marker, what string) {
	t.Helper()
	os.Remove(marker)
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	_, err := h.Make(context.Background(), id, nil)
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatalf("%s: the planted code ran (make: %v)", what, err)
	}
	if err == nil {
		t.Fatalf("%s: the plugin started, want refused", what)
	}
	if !errors.Is(err, ErrChecksum) && !strings.Contains(err.Error(), "refused") {
		t.Fatalf("%s: err = %v, want a checksum refusal", what, err)
	}
}

// On 6e6bf5c the planted unchecked-hash .pyc ran (the tree hash skipped
// __pycache__) and so did the symlinked module (links were not hashed).
func TestHostilePythonPycAndSymlinkNeverRun(t *testing.T) {
	dir, m := installPython(t, "hostile-py")
	folder := filepath.Dir(m.Path())
	// The marker lives in the plugin's scratch directory, writable by it
	// in every sandbox version.
	scratch := filepath.Join(os.TempDir(), "envgym-sandbox", m.Name)
	os.MkdirAll(scratch, 0o777)
	os.Chmod(scratch, 0o777)
	marker := filepath.Join(scratch, "planted-code-ran")

	// 1. A byte-code cache for the SDK's __init__, in unchecked-hash mode
	// (used without looking at the source).
	evil := filepath.Join(t.TempDir(), "evil.py")
	os.WriteFile(evil, []byte(evilPython(marker)), 0o644)
	tag, err := exec.Command(pythonForPlugins, "-c", "import sys; print(sys.implementation.cache_tag)").Output()
	if err != nil {
		t.Fatal(err)
	}
	pyc := filepath.Join(folder, "envgym", "__pycache__", "__init__."+strings.TrimSpace(string(tag))+".pyc")
	compile := fmt.Sprintf("import py_compile; py_compile.compile(%q, cfile=%q, dfile=%q, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, doraise=True)",
		evil, pyc, filepath.Join(folder, "envgym", "__init__.py"))
	if out, err := exec.Command(pythonForPlugins, "-c", compile).CombinedOutput(); err != nil {
		t.Fatalf("compile the planted pyc: %v\n%s", err, out)
	}
	startFails(t, dir, "example/guess-py-v0", marker, "planted __pycache__ pyc")
	os.RemoveAll(filepath.Join(folder, "envgym", "__pycache__"))

	// 2. A module the SDK imports (grpc), shadowed by a link beside
	// main.py to a file outside the folder.
	if err := os.Symlink(evil, filepath.Join(folder, "grpc.py")); err != nil {
		t.Fatal(err)
	}
	startFails(t, dir, "example/guess-py-v0", marker, "symlinked module out of the folder")
	os.Remove(filepath.Join(folder, "grpc.py"))

	// 3. The same with the link's target inside the folder: hashed by its
	// target, so it is a change like any other.
	os.WriteFile(filepath.Join(folder, "envgym", "evil.py"), []byte(evilPython(marker)), 0o644)
	if err := os.Symlink("envgym/evil.py", filepath.Join(folder, "grpc.py")); err != nil {
		t.Fatal(err)
	}
	startFails(t, dir, "example/guess-py-v0", marker, "symlinked module inside the folder")
	os.Remove(filepath.Join(folder, "grpc.py"))
	os.Remove(filepath.Join(folder, "envgym", "evil.py"))

	// Restored, it starts again: the refusals were about the planted files.
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	env, err := h.Make(context.Background(), "example/guess-py-v0", nil)
	if err != nil {
		t.Fatalf("the restored plugin does not start: %v", err)
	}
	env.Close()
}

// On 6e6bf5c the file was hashed by path and executed by path, so a
// rename in between ran the swapped file (the issue saw 5 of 25 starts;
// this swapper made it run in 3 of 4 runs of 40 starts at load 60: it is
// a race, hence 80 starts).
// Now it is opened once, hashed and executed through that descriptor.
func TestHostileRenameSwapDuringStartNeverRuns(t *testing.T) {
	dir := t.TempDir()
	m, err := Install(context.Background(), filepath.Join(binDir, "gym-plugin-guess"), dir, InstallOptions{Name: "hostile-swap"})
	if err != nil {
		t.Fatal(err)
	}
	bin := m.BinaryPath()
	scratch := filepath.Join(os.TempDir(), "envgym-sandbox", m.Name)
	os.MkdirAll(scratch, 0o777)
	os.Chmod(scratch, 0o777)
	marker := filepath.Join(scratch, "swapped-binary-ran")
	os.Remove(marker)
	good := filepath.Join(filepath.Dir(bin), "good")
	evil := filepath.Join(filepath.Dir(bin), "evil")
	if err := os.Link(bin, good); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(evil, []byte("#!/bin/sh\necho ran >> "+marker+"\nexit 1\n"), 0o755)

	// The swapper, a process of its own, waits for the host to finish
	// reading the binary (inotify), then puts the other file in its place
	// for a millisecond: on 6e6bf5c the exec by path came right after the
	// second hash; now the file opened is the one hashed and run.
	swapper := exec.Command(pythonForPlugins, "-c", swapperPy, filepath.Dir(bin), filepath.Base(bin), good, evil)
	swapper.Stderr = os.Stderr
	out, _ := swapper.StdoutPipe()
	if err := swapper.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("swapper did not start: %q", lines.Text())
	}
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	p, _ := h.Plugin("example/guess-v0")
	const starts = 80
	started, refused := 0, 0
	for i := 0; i < starts; i++ {
		_, err := p.Specs(context.Background())
		switch {
		case err == nil:
			started++
		case errors.Is(err, ErrChecksum):
			refused++
		default:
			t.Errorf("start %d: %v (want a start or a checksum refusal)", i, err)
		}
		p.Stop()
	}
	swapper.Process.Signal(syscall.SIGTERM)
	lines.Scan()
	swaps, _ := strconv.Atoi(lines.Text())
	swapper.Wait()
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the swapped-in file ran %d times in %d starts (%d started, %d refused)", strings.Count(string(b), "ran"), starts, started, refused)
	}
	if _, err := p.Specs(context.Background()); err != nil {
		t.Fatalf("with the binary restored, the plugin does not start: %v", err)
	}
	if swaps == 0 {
		t.Fatal("the swapper never swapped: the test proves nothing")
	}
	t.Logf("%d starts, %d swaps: %d started the good binary, %d refused the swapped one", starts, swaps, started, refused)
}

// Protections (gym list, gym doctor) says which guard is off, and why.
func TestProtectionsSayWhatIsOff(t *testing.T) {
	dir := t.TempDir()
	m, err := Install(context.Background(), filepath.Join(binDir, "gym-plugin-guess"), dir, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state := func() map[string]Protection {
		h := New(Config{Dir: dir, HealthInterval: -1})
		defer h.Close()
		p, _ := h.Plugin("example/guess-v0")
		out := map[string]Protection{}
		for _, pr := range p.Protections() {
			out[pr.Name] = pr
		}
		return out
	}
	for _, name := range []string{"name", "checksum", "exec-hashed", "writable-apart", "identity", "docker", "network"} {
		if pr := state()[name]; !pr.On || pr.Why == "" {
			t.Errorf("fresh install: protection %q = %+v, want on with a reason", name, pr)
		}
	}
	// A browser plugin's line says what its spec recorded; others have none.
	if pr, ok := state()["browser-sandbox"]; ok {
		t.Errorf("guess has a browser-sandbox line: %+v", pr)
	}
	for v, on := range map[string]bool{"on (user namespaces)": true, "off: running as root (Chromium refuses its sandbox)": false} {
		m.Specs = []gym.Spec{{ID: "example/guess-v0", Components: map[string]string{"chromium_sandbox": v}}}
		if err := WriteManifest(m.Path(), m); err != nil {
			t.Fatal(err)
		}
		if pr := state()["browser-sandbox"]; pr.On != on || !strings.Contains(pr.Why, v) {
			t.Errorf("chromium_sandbox %q: protection %+v, want on=%v saying it", v, pr, on)
		}
	}
	m.Sandbox.Root, m.Sandbox.Docker, m.Sandbox.Network = true, true, true
	if err := WriteManifest(m.Path(), m); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(m.BinaryPath(), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	got := state()
	for name, why := range map[string]string{"checksum": "changed", "network": "sandbox.network"} {
		if pr := got[name]; pr.On || !strings.Contains(pr.Why, why) {
			t.Errorf("protection %q = %+v, want off, saying %q", name, pr, why)
		}
	}
	// sandbox.docker: through a broker of its own where the host has a
	// mount namespace (dockerbroker_linux.go), the engine's socket else.
	if ok, why := dockerBrokered(m.Sandbox); ok {
		if pr := got["docker"]; !pr.On || !strings.Contains(pr.Why, "broker") {
			t.Errorf("protection docker = %+v, want on, through a broker", pr)
		}
	} else if pr := got["docker"]; pr.On || !strings.Contains(pr.Why, why) {
		t.Errorf("protection docker = %+v, want off, saying %q", pr, why)
	}
	// Root, but of its own user namespace only.
	if pr := got["identity"]; !pr.On || !strings.Contains(pr.Why, "own user namespace") || !strings.Contains(pr.Why, fmt.Sprint(PluginUID(m.Name))) {
		t.Errorf("protection identity of a root plugin = %+v, want on, naming its user namespace and host uid", pr)
	}
}

// swapperPy renames evil over the binary at every second close of the
// binary after reading, and good back a millisecond later; on SIGTERM it puts good
// back and prints how many swaps it made.
const swapperPy = `import ctypes, os, select, signal, sys, time
d, name, good, evil = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
libc.inotify_add_watch(fd, d.encode(), 0x10)  # IN_CLOSE_NOWRITE
bin_, tmp = os.path.join(d, name), os.path.join(d, "swap.tmp")
swaps = 0
def put(src):
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.link(src, tmp)
    os.rename(tmp, bin_)
def stop(*_):
    put(good)
    print(swaps, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
closes = 0
while True:
    buf = os.read(fd, 65536)
    closes += buf.count(name.encode())
    # Every second close: a start on 6e6bf5c read the binary twice (its
    # check, then go-plugin's) and executed the path right after.
    if closes < 2:
        continue
    closes = 0
    put(evil)
    swaps += 1
    time.sleep(0.001)
    put(good)
    # Closes during the swap are the swap's own doing (a refused start).
    while select.select([fd], [], [], 0)[0]:
        os.read(fd, 65536)
`
