package plugins

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/envgym/envgym/plugins/dockerbroker"
)

// TestHostileDockerBroker: a plugin with sandbox.docker reaches Docker
// only through its broker, which refuses a privileged container with the
// host's / bound, even of an image in the plugin's own repository. Fails
// at 61ee29e (checked in a worktree of that commit with this file and
// sdk/internal/hostile/docker.go copied in): "docker-root read root", the
// plugin read the host's /etc/shadow through the engine's socket.
func TestHostileDockerBroker(t *testing.T) {
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		t.Fatalf("no Docker engine on this machine (%v): setup starts dockerd; without it this attack proves nothing", err)
	}
	// An image the attack may name: the plugin's own repository, made
	// here directly on the engine (one file; the attack runs no program).
	img := dockerbroker.ImageRepoFor("hostile") + fmt.Sprintf(":t%d", time.Now().UnixNano()%1e9)
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "etc/hostname", Mode: 0o644, Size: 2})
	tw.Write([]byte("x\n"))
	tw.Close()
	imp := exec.Command("docker", "import", "-", img)
	imp.Stdin = &tarball
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })

	for _, sb := range []Sandbox{{Docker: true}, {Docker: true, Root: true}, {Docker: true, HostFiles: true}, {Docker: true, Root: true, HostFiles: true}} {
		t.Run(fmt.Sprintf("root=%v,host_files=%v", sb.Root, sb.HostFiles), func(t *testing.T) {
			h := newHost(t, Config{}, sb, "hostile")
			env := mustMake(t, h, "test/hostile-v0")
			mustReset(t, env)
			attack := func(a string) string { return step(t, env, a, 30*time.Second).Observation.Text }
			got := attack("docker-root " + img)
			if !strings.HasPrefix(got, "docker-root refused 403 docker broker (plugin hostile)") || !strings.Contains(got, "Privileged") {
				t.Errorf("privileged container with / bound: %q, want the broker's refusal", got)
			}
			// Another image of the host's: refused for the image itself.
			if got := attack("docker-root envgym-core:local"); !strings.Contains(got, "refused 403 docker broker") {
				t.Errorf("another image: %q", got)
			}
			// The engine is still there for what the broker allows.
			if got := attack("docker"); !strings.HasPrefix(got, "docker ok HTTP/1.") {
				t.Errorf("ping through the broker: %q", got)
			}
			hp, _ := h.Plugin("test/hostile-v0")
			for _, p := range hp.Protections() {
				if p.Name == "docker" && (!p.On || !strings.Contains(p.Why, "broker")) {
					t.Errorf("protection line: %+v", p)
				}
			}
			hp.Stop()
			if es, _ := os.ReadDir(dockerBrokerDir); len(es) > 0 {
				var names []string
				for _, e := range es {
					if strings.HasPrefix(e.Name(), "hostile-") {
						names = append(names, e.Name())
					}
				}
				if len(names) > 0 {
					t.Errorf("broker directories left after the plugin stopped: %v", names)
				}
			}
		})
	}
}

// TestDockerBrokerLeftoversSwept: what a broker of a host that died left
// (its lock free), a pin's bind mount included, goes at the next start;
// a live broker's stays.
func TestDockerBrokerLeftoversSwept(t *testing.T) {
	if err := os.MkdirAll(dockerBrokerDir, 0o711); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dockerBrokerDir, fmt.Sprintf("sweeptest-%d", time.Now().UnixNano()))
	src := t.TempDir()
	pin := filepath.Join(dead+".pins", "m1")
	for _, d := range []string{dead, pin} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount(src, pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(pin, unix.MNT_DETACH); os.RemoveAll(dead + ".pins"); os.RemoveAll(dead) })
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	live, err := startDockerBroker("sweeptest", os.Getuid(), fsPolicy{scratch: t.TempDir(), cache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dead, dead + ".pins", dead + ".lock"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after the sweep: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "keep")); err != nil {
		t.Errorf("the pinned source itself was touched: %v", err)
	}
	sweepDockerBrokers() // a live broker's lock is held
	if _, err := os.Stat(live.socket()); err != nil {
		t.Errorf("the live broker's socket after a sweep: %v", err)
	}
	if err := live.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Lstat(live.base); !os.IsNotExist(err) {
		t.Errorf("the broker's directory after close: %v", err)
	}
}
