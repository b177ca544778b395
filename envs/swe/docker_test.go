package swe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

func TestDockerUnreachableIsAClearError(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/envgym-docker.sock")
	_, err := NewDocker(context.Background(), DockerConfig{Dir: sandboxTestDir(t)})
	if !errors.Is(err, ErrSandbox) || !strings.Contains(err.Error(), "Docker is unreachable") {
		t.Fatalf("got %v, want an ErrSandbox saying Docker is unreachable", err)
	}
}

// A dead process's containers are removed by the next backend's sweep;
// live ones are not, even where the owner's pid means nothing here: a
// plugin numbers itself in its own PID namespace. (Before, the sweep went
// by that pid: this package's tests removed the live containers of a
// sandboxed swe plugin under gym check, "container ... is not running".)
func TestDockerSweepsLeftovers(t *testing.T) {
	d := newDockerTestBackend(t, DockerConfig{})
	ctx := context.Background()
	host, _ := os.Hostname()
	// The ghost's lock file is there but nobody holds it: its owner died.
	ghostLock := filepath.Join(d.cfg.Dir, "envgym-swe-owner-ghost.lock")
	if err := os.WriteFile(ghostLock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ghost := &Docker{cfg: d.cfg, cli: d.cli, cache: d.cache, owner: host + "/1/not-its-start-time", lockPath: ghostLock}
	// The neighbour lives (holds its lock) but names a pid of another
	// PID namespace.
	lock, err := ownerLock(d.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	neighbour := &Docker{cfg: d.cfg, cli: d.cli, cache: d.cache, owner: host + "/2/other-pid-namespace", lock: lock, lockPath: lock.Name()}
	defer neighbour.unlock()
	var sandboxes []*dockerSandbox
	for _, o := range []*Docker{ghost, neighbour} {
		s, err := o.start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sandboxes = append(sandboxes, s)
	}
	defer func() {
		for _, s := range sandboxes {
			s.remove()
			s.fs.unmount()
			os.RemoveAll(s.dir)
		}
	}()
	live, err := d.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := d.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoContainers(t, ghost.owner)
	if _, err := os.Stat(ghostLock); !os.IsNotExist(err) {
		t.Errorf("the dead owner's lock file is left: %v", err)
	}
	for name, s := range map[string]Sandbox{"own": live, "neighbour's": sandboxes[1]} {
		if res := run(t, s, "echo alive", 0); !strings.Contains(string(res.Output), "alive") {
			t.Errorf("sweep hurt a live %s sandbox: %s", name, res.Output)
		}
	}
}

// The warm pool hands out started containers and removes the rest on
// Close (newDockerTestBackend checks that none survive).
func TestDockerWarmPool(t *testing.T) {
	d := newDockerTestBackend(t, DockerConfig{Warm: 2})
	for range 3 {
		s, err := d.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res := run(t, s, "echo hi > f && cat f", 0); string(res.Output) != "hi\n" {
			t.Fatalf("got %q", res.Output)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A killed container: the warm pool does not hand it out, and the env's
// next step reports CRASHED and ends the episode (every later step would
// fail); the next reset works.
func TestDockerKilledContainer(t *testing.T) {
	ctx := context.Background()
	d := newDockerTestBackend(t, DockerConfig{Warm: 1})
	kill := func(id string) {
		t.Helper()
		if out, err := exec.Command("docker", "kill", id).CombinedOutput(); err != nil {
			t.Fatalf("docker kill: %v: %s", err, out)
		}
	}
	// Let the pool fill, then kill its container.
	s, err := d.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d.mu.Lock()
		n := len(d.pool)
		d.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the warm pool did not fill")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.mu.Lock()
	warm := d.pool[0].id
	d.mu.Unlock()
	kill(warm)
	s, err = d.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*dockerSandbox).id; got == warm {
		t.Fatal("the pool handed out its dead container")
	}
	if res := run(t, s, "echo ok", 0); string(res.Output) != "ok\n" {
		t.Fatalf("got %q", res.Output)
	}
	s.Close()

	e := testEnv(t, d, testTasks(t, 1, 1))
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 0}); err != nil {
		t.Fatal(err)
	}
	kill(e.sb.(*dockerSandbox).id)
	res, err := e.Step(ctx, `bash("echo hi")`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != gym.StatusCrashed || !res.Truncated {
		t.Fatalf("step after the container died: status %v truncated %v: %s", res.Status, res.Truncated, res.Observation.Text)
	}
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 0}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Step(ctx, `bash("echo hi")`); err != nil || res.Status != gym.StatusOK {
		t.Fatalf("step after a fresh reset: %v %+v", err, res)
	}
}
