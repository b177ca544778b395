package swe

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestDockerUnreachableIsAClearError(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/envgym-docker.sock")
	_, err := NewDocker(context.Background(), DockerConfig{Dir: sandboxTestDir(t)})
	if !errors.Is(err, ErrSandbox) || !strings.Contains(err.Error(), "Docker is unreachable") {
		t.Fatalf("got %v, want an ErrSandbox saying Docker is unreachable", err)
	}
}

// A dead process's containers are removed by the next backend's sweep;
// live ones are not.
func TestDockerSweepsLeftovers(t *testing.T) {
	d := newDockerTestBackend(t, DockerConfig{})
	ctx := context.Background()
	host, _ := os.Hostname()
	ghost := &Docker{cfg: d.cfg, cli: d.cli, cache: d.cache, owner: host + "/1/not-its-start-time"}
	left, err := ghost.start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		left.fs.unmount()
		os.RemoveAll(left.dir)
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
	if res := run(t, live, "echo alive", 0); !strings.Contains(string(res.Output), "alive") {
		t.Fatalf("sweep hurt a live sandbox: %s", res.Output)
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
