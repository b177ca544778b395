package chaos

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
)

// TestBrowserContexts counts a process that looks like a Chromium
// renderer below this one, and nothing once it is gone.
func TestBrowserContexts(t *testing.T) {
	if n, ok := browserContexts(os.Getpid()); ok || n != 0 {
		t.Fatalf("before: %d, %v; want no browser", n, ok)
	}
	// argv[0] "chromium" and a --type=renderer argument, as Chromium's
	// renderer processes have.
	cmd := exec.Command("bash", "-c", `exec -a chromium /bin/sh -c "sleep 30" --type=renderer`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var n int64
	var ok bool
	waitFor(5*time.Second, func() bool { n, ok = browserContexts(os.Getpid()); return n == 1 })
	if !ok || n != 1 {
		t.Fatalf("with one renderer: %d, %v", n, ok)
	}
	// A renderer forked by the zygote: its command line is one string.
	cmd2 := exec.Command("bash", "-c", `exec -a "/usr/lib/chromium/chromium --type=renderer --lang=en-US" /bin/sh -c "sleep 30"`)
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd2.Process.Kill(); cmd2.Wait() }()
	waitFor(5*time.Second, func() bool { n, ok = browserContexts(os.Getpid()); return n == 2 })
	if !ok || n != 2 {
		t.Fatalf("with a zygote-style renderer too: %d, %v", n, ok)
	}
}

// TestProcessKinds names the processes below this one by kind, Chromium's
// by type and utility sub-type.
func TestProcessKinds(t *testing.T) {
	start := func(script string) {
		t.Helper()
		cmd := exec.Command("bash", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start(`exec sleep 30`)
	start(`exec -a "/usr/lib/chromium/chromium --type=utility --utility-sub-type=storage.mojom.StorageService --lang=en-US" sleep 30`)
	want := "chromium/utility:storage.mojom.StorageService=1 sleep=1"
	var got string
	waitFor(5*time.Second, func() bool { got = processKinds(os.Getpid()); return got == want })
	if got != want {
		t.Fatalf("processKinds = %q, want %q", got, want)
	}
}

// TestPluginContainers asks the Docker engine for the containers of a
// process that owns none.
func TestPluginContainers(t *testing.T) {
	if _, err := os.Stat(dockerSocket); err != nil {
		t.Skipf("no Docker engine here (%v): containers are not measurable", err)
	}
	n, ok := pluginContainers(context.Background(), os.Getpid())
	if !ok || n != 0 {
		t.Fatalf("containers of the test process: %d, %v; want 0, true", n, ok)
	}
	if _, ok := pluginContainers(context.Background(), 0); ok {
		t.Fatal("pid 0 measured")
	}
}

// TestSweContainersFound: the container faults find the Docker sandboxes
// of a swe plugin installed as setup.sh installs it (root, the socket, its
// own PID namespace), and kill them. The plugin numbers itself in its own
// namespace, so they are found by the owner lock it holds open; matching
// the host's pid of the plugin (as before) found none.
func TestSweContainersFound(t *testing.T) {
	ctx := context.Background()
	h := newHostWith(t, plugins.Sandbox{MemoryMB: 8192, MaxPids: 4096, Root: true, Docker: true}, "swe")
	env, err := h.Make(ctx, "swe/gomut-v0", map[string]any{"sandbox": "docker"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	p, ok := h.Plugin("swe/gomut-v0")
	if !ok {
		t.Fatal("no swe plugin")
	}
	n, ok := pluginContainers(ctx, p.PID())
	if !ok || n == 0 {
		t.Fatalf("containers of the swe plugin (pid %d): %d, %v; want at least the episode's sandbox", p.PID(), n, ok)
	}
	before, err := containerIDs(ctx, p.PID())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := killContainers(p.PID())
	if err != nil {
		t.Fatalf("kill_container: %v", err)
	}
	t.Log(msg)
	// swe refills its warm pool after a kill: new containers may run, but
	// none of those found before.
	after, err := containerIDs(ctx, p.PID())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range after {
		for _, old := range before {
			if id == old {
				t.Fatalf("container %.12s still running after kill_container", id)
			}
		}
	}
}
