package dockerbroker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/envgym/envgym/envs/swe"
	"github.com/envgym/envgym/plugins/dockerbroker"
)

// These tests run the broker in front of the real engine (scripts/setup.sh
// starts dockerd; without it they fail saying so) with swe's base image,
// as the installed swe plugin uses it.

type fixture struct {
	owner  string
	roots  []string // scratch, cache
	image  string
	sock   string
	cli    *client.Client // through the broker
	direct *client.Client // the real engine
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	direct, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := direct.Ping(pctx); err != nil {
		t.Fatalf("the Docker engine is unreachable (scripts/setup.sh starts dockerd): %v", err)
	}
	// The image the host's swe makes (a hash of the toolchain and tools):
	// imported once, directly, as a trusted image of the host.
	img, err := swe.EnsureBaseImage(ctx, direct, "/usr/local/go")
	if err != nil {
		t.Fatalf("swe base image: %v", err)
	}
	f := &fixture{owner: fmt.Sprintf("test%d", time.Now().UnixNano()%1e9), image: img, direct: direct}
	for i := 0; i < 2; i++ {
		d := t.TempDir()
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f.roots = append(f.roots, d)
	}
	pins := t.TempDir() // 0700, root's
	b, err := dockerbroker.New(dockerbroker.Policy{Owner: f.owner, Roots: f.roots, ImageRepo: "envgym-swe-base", PinDir: pins}, dockerbroker.DefaultEngine())
	if err != nil {
		t.Fatal(err)
	}
	f.sock = filepath.Join(t.TempDir(), "docker.sock")
	srv, err := dockerbroker.Listen(b, f.sock, os.Getuid(), os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	if f.cli, err = client.NewClientWithOpts(client.WithHost("unix://"+f.sock), client.WithAPIVersionNegotiation()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.cli.Close()
		// The broker's containers, then its pins.
		list, _ := direct.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", dockerbroker.OwnerLabel+"="+f.owner))})
		for _, c := range list {
			direct.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if es, _ := os.ReadDir(pins); len(es) > 0 {
			mi, _ := os.ReadFile("/proc/self/mountinfo")
			var names []string
			for _, e := range es {
				rerr := os.Remove(filepath.Join(pins, e.Name()))
				names = append(names, fmt.Sprintf("%s (mounted here: %v; rmdir now: %v)", e.Name(), bytes.Contains(mi, []byte(filepath.Join(pins, e.Name()))), rerr))
			}
			t.Errorf("pins left after close: %v", names)
		}
	})
	return f
}

// sweShape is a create request as envs/swe/docker.go makes it, with a
// workspace under the plugin's scratch directory.
func (f *fixture) sweShape(t testing.TB) (*container.Config, *container.HostConfig) {
	t.Helper()
	ws := filepath.Join(f.roots[0], "ws")
	if err := os.MkdirAll(ws, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ws, 0o777); err != nil { // swe's workspace is nobody's
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "marker"), []byte("workspace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids := int64(64)
	yes := true
	return &container.Config{
			Image: f.image, User: "65533:65533", Cmd: []string{"sleep", "600"}, WorkingDir: "/work", Hostname: "sandbox",
			Labels: map[string]string{"envgym.swe": "sandbox"},
		}, &container.HostConfig{
			NetworkMode: "none", AutoRemove: true, ReadonlyRootfs: true, CapDrop: []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges"}, Init: &yes, IpcMode: "private",
			Mounts:    []mount.Mount{{Type: mount.TypeBind, Source: ws, Target: "/work"}},
			Resources: container.Resources{Memory: 256 << 20, MemorySwap: 256 << 20, PidsLimit: &pids, NanoCPUs: 1e9},
		}
}

func wantRefused(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want refused", what)
		return
	}
	if !strings.Contains(err.Error(), "docker broker (plugin ") || !strings.Contains(err.Error(), what) {
		t.Errorf("refusal %q does not name %q", err, what)
	}
}

// exec runs argv in id as user through cli and returns its output.
func execIn(ctx context.Context, cli *client.Client, id, user string, argv ...string) (string, error) {
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{User: user, AttachStdout: true, AttachStderr: true, Cmd: argv})
	if err != nil {
		return "", err
	}
	hj, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", err
	}
	defer hj.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, hj.Reader)
	return out.String(), err
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	link := filepath.Join(f.roots[0], "link-to-root")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	rel := f.roots[0] + "/../../etc"
	cases := []struct {
		name, want string
		edit       func(*container.Config, *container.HostConfig)
	}{
		{"privileged", "Privileged", func(c *container.Config, h *container.HostConfig) { h.Privileged = true }},
		{"cap add", "CapAdd", func(c *container.Config, h *container.HostConfig) { h.CapAdd = []string{"SYS_ADMIN"} }},
		{"bind /", "Binds", func(c *container.Config, h *container.HostConfig) { h.Binds = []string{"/:/host"} }},
		{"mount /", "not beneath", func(c *container.Config, h *container.HostConfig) { h.Mounts[0].Source = "/" }},
		{"mount /etc", "not beneath", func(c *container.Config, h *container.HostConfig) { h.Mounts[0].Source = "/etc" }},
		{"mount through a link", "leaves", func(c *container.Config, h *container.HostConfig) { h.Mounts[0].Source = link + "/etc" }},
		{"mount through ..", "leaves", func(c *container.Config, h *container.HostConfig) { h.Mounts[0].Source = rel }},
		{"volume mount", "Type", func(c *container.Config, h *container.HostConfig) {
			h.Mounts[0] = mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data"}
		}},
		{"propagation", "Propagation", func(c *container.Config, h *container.HostConfig) {
			h.Mounts[0].BindOptions = &mount.BindOptions{Propagation: mount.PropagationRShared}
		}},
		{"network host", "NetworkMode", func(c *container.Config, h *container.HostConfig) { h.NetworkMode = "host" }},
		{"pid host", "PidMode", func(c *container.Config, h *container.HostConfig) { h.PidMode = "host" }},
		{"ipc host", "IpcMode", func(c *container.Config, h *container.HostConfig) { h.IpcMode = "host" }},
		{"userns host", "UsernsMode", func(c *container.Config, h *container.HostConfig) { h.UsernsMode = "host" }},
		{"root user", "root", func(c *container.Config, h *container.HostConfig) { c.User = "0:0" }},
		{"named user", "numeric", func(c *container.Config, h *container.HostConfig) { c.User = "nobody" }},
		{"no user", "numeric", func(c *container.Config, h *container.HostConfig) { c.User = "" }},
		{"seccomp unconfined", "SecurityOpt", func(c *container.Config, h *container.HostConfig) {
			h.SecurityOpt = append(h.SecurityOpt, "seccomp=unconfined")
		}},
		{"apparmor unconfined", "SecurityOpt", func(c *container.Config, h *container.HostConfig) { h.SecurityOpt = []string{"apparmor=unconfined"} }},
		{"devices", "Devices", func(c *container.Config, h *container.HostConfig) {
			h.Devices = []container.DeviceMapping{{PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rwm"}}
		}},
		{"sysctls", "Sysctls", func(c *container.Config, h *container.HostConfig) {
			h.Sysctls = map[string]string{"kernel.domainname": "x"}
		}},
		{"another image", "image", func(c *container.Config, h *container.HostConfig) { c.Image = "envgym-core:local" }},
		{"image by registry", "image", func(c *container.Config, h *container.HostConfig) { c.Image = "docker.io/library/busybox:latest" }},
		{"no memory limit", "Memory", func(c *container.Config, h *container.HostConfig) { h.Memory, h.MemorySwap = 0, 0 }},
		{"writable root", "ReadonlyRootfs", func(c *container.Config, h *container.HostConfig) { h.ReadonlyRootfs = false }},
		{"capabilities kept", "CapDrop", func(c *container.Config, h *container.HostConfig) { h.CapDrop = nil }},
		{"broker label", "label", func(c *container.Config, h *container.HostConfig) { c.Labels[dockerbroker.OwnerLabel] = "someone-else" }},
		{"entrypoint", "Entrypoint", func(c *container.Config, h *container.HostConfig) { c.Entrypoint = []string{"/bin/sh"} }},
		{"cgroup parent", "CgroupParent", func(c *container.Config, h *container.HostConfig) { h.CgroupParent = "/" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, h := f.sweShape(t)
			tc.edit(c, h)
			_, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "")
			wantRefused(t, err, tc.want)
		})
	}
	t.Run("named container", func(t *testing.T) {
		c, h := f.sweShape(t)
		_, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "mine")
		wantRefused(t, err, "name")
	})
}

// TestSweSequence: what swe's Docker backend does, through the broker:
// its own backend end to end (ping, sweep, image, create, start, exec
// with hijacked streams, inspect, remove), then the rest of the
// per-container calls on a container of swe's shape.
func TestSweSequence(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	t.Run("swe backend", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix://"+f.sock)
		d, err := swe.NewDocker(ctx, swe.DockerConfig{Dir: f.roots[0], MemoryMB: 512, CPUs: 1})
		if err != nil {
			t.Fatalf("swe's Docker backend through the broker: %v", err)
		}
		defer d.Close()
		s, err := d.Start(ctx)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		res, err := s.Exec(ctx, "id -u; echo hello > /work/f; cat /work/f; go version", swe.ExecOptions{Timeout: 60 * time.Second})
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if out := string(res.Output); res.ExitCode != 0 || !strings.Contains(out, "65534\nhello\ngo version") {
			t.Errorf("exec: exit %d, output %q", res.ExitCode, out)
		}
		if b, err := os.ReadFile(filepath.Join(s.Workspace(), "f")); err != nil || string(b) != "hello\n" {
			t.Errorf("the workspace on the host: %q, %v", b, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	c, h := f.sweShape(t)
	resp, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "")
	if err != nil {
		t.Fatalf("create of swe's shape: %v", err)
	}
	// The source swapped for a link to /etc between create and start: the
	// container still gets the directory that was checked.
	ws := h.Mounts[0].Source
	if err := os.Rename(ws, ws+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", ws); err != nil {
		t.Fatal(err)
	}
	if err := f.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	if out, err := execIn(ctx, f.cli, resp.ID, "65534:65534", "cat", "/work/marker"); err != nil || out != "workspace\n" {
		t.Errorf("/work after the source was swapped for a link to /etc: %q, %v (want the checked directory)", out, err)
	}
	// Copying in is refused: the engine would extract as root on the host
	// side, into the workspace bind too (here: a block device node).
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Mode: 0o666, Devmajor: 8})
	tw.Close()
	wantRefused(t, f.cli.CopyToContainer(ctx, resp.ID, "/work", &tarball, container.CopyToContainerOptions{}), "PUT archive")
	if _, err := os.Lstat(filepath.Join(ws+".old", "sda")); !os.IsNotExist(err) {
		t.Errorf("a device node in the workspace: %v", err)
	}
	if out, err := execIn(ctx, f.cli, resp.ID, "65534:65534", "sh", "-c", "printf put > /work/put.txt"); err != nil {
		t.Errorf("exec: %q, %v", out, err)
	}
	rc, _, err := f.cli.CopyFromContainer(ctx, resp.ID, "/work/put.txt")
	if err != nil {
		t.Errorf("archive get: %v", err)
	} else {
		tr := tar.NewReader(rc)
		if _, err := tr.Next(); err != nil {
			t.Errorf("archive get: %v", err)
		} else if b, _ := io.ReadAll(tr); string(b) != "put" {
			t.Errorf("archive get: %q", b)
		}
		rc.Close()
	}
	if _, err := f.cli.ContainerInspect(ctx, resp.ID[:12]); err != nil {
		t.Errorf("inspect by short id: %v", err)
	}
	if err := f.cli.ContainerKill(ctx, resp.ID, "KILL"); err != nil {
		t.Errorf("kill: %v", err)
	}
	err = f.cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	if err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		t.Errorf("remove: %v", err)
	}
}

func TestOthersContainersAndExec(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Another owner's container, made on the engine directly.
	other, err := f.direct.ContainerCreate(ctx, &container.Config{Image: f.image, Cmd: []string{"sleep", "600"}, Labels: map[string]string{"envgym.swe": "sandbox"}},
		&container.HostConfig{NetworkMode: "none", AutoRemove: true}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.direct.ContainerRemove(context.Background(), other.ID, container.RemoveOptions{Force: true}) })
	if err := f.direct.ContainerStart(ctx, other.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	c, h := f.sweShape(t)
	mine, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cli.ContainerStart(ctx, mine.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}

	_, err = f.cli.ContainerInspect(ctx, other.ID)
	wantRefused(t, err, "not plugin")
	_, err = execIn(ctx, f.cli, other.ID, "65534:65534", "id")
	wantRefused(t, err, "not plugin")
	wantRefused(t, f.cli.ContainerKill(ctx, other.ID, "KILL"), "not plugin")
	_, _, err = f.cli.CopyFromContainer(ctx, other.ID, "/etc/passwd")
	wantRefused(t, err, "not plugin")
	wantRefused(t, f.cli.ContainerRemove(ctx, other.ID, container.RemoveOptions{Force: true}), "not plugin")
	if insp, err := f.direct.ContainerInspect(ctx, other.ID); err != nil || !insp.State.Running {
		t.Errorf("the other owner's container after the attempts: %v", err)
	}

	list, err := f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "envgym.swe"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != mine.ID {
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID[:12])
		}
		t.Errorf("list through the broker: %v, want only its own %.12s", ids, mine.ID)
	}

	_, err = execIn(ctx, f.cli, mine.ID, "0:0", "id")
	wantRefused(t, err, "root")
	_, err = execIn(ctx, f.cli, mine.ID, "", "id")
	wantRefused(t, err, "numeric")
	_, err = f.cli.ContainerExecCreate(ctx, mine.ID, container.ExecOptions{User: "65534:65534", Privileged: true, Cmd: []string{"id"}})
	wantRefused(t, err, "Privileged")
	if out, err := execIn(ctx, f.cli, mine.ID, "65534:65534", "id", "-u"); err != nil || out != "65534\n" {
		t.Errorf("exec as nobody: %q, %v", out, err)
	}
	if err := f.cli.ContainerRemove(ctx, mine.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		t.Errorf("remove its own: %v", err)
	}
}

func TestEndpointsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, h := f.sweShape(t)
	mine, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", f.sock)
	}}}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1.41/build", ""},
		{"POST", "/v1.41/swarm/init", `{"ListenAddr":"127.0.0.1"}`},
		{"POST", "/v1.41/volumes/create", `{"Name":"x"}`},
		{"POST", "/v1.41/networks/create", `{"Name":"x"}`},
		{"POST", "/v1.41/containers/" + mine.ID + "/update", `{"Memory":0}`},
		{"POST", "/v1.41/plugins/pull?remote=x", "[]"},
		{"POST", "/v1.41/images/create?fromImage=busybox&tag=latest", ""},
		{"POST", "/v1.41/images/create?fromSrc=http://127.0.0.1/x.tar&repo=envgym-swe-base&tag=x", ""},
		{"POST", "/v1.41/images/create?fromSrc=-&repo=other&tag=x", ""},
		{"POST", "/v1.41/images/create?fromSrc=-&repo=" + strings.Replace(f.image, ":", "&tag=", 1), ""},
		{"POST", "/v1.41/images/create?fromSrc=-&repo=envgym-swe-base&tag=x&changes=ENTRYPOINT+sh", ""},
		{"POST", "/v1.41/images/create?fromSrc=-&repo=envgym-swe-base&tag=x&changes=label+" + dockerbroker.OwnerLabel + "%3Dswe", ""},
		{"GET", "/v1.41/images/json", ""},
		{"GET", "/v1.41/images/envgym-core:local/json", ""},
		{"GET", "/v1.41/info", ""},
		{"GET", "/v1.41/events", ""},
		{"POST", "/v1.41/containers/prune", ""},
		{"POST", "/v1.41/exec/0123456789ab/start", "{}"},
		{"POST", "/v1.41/commit?container=" + mine.ID, "{}"},
	} {
		req, _ := http.NewRequestWithContext(ctx, r.method, "http://docker"+r.path, strings.NewReader(r.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		var msg struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(msg.Message, "docker broker (plugin "+f.owner+")") {
			t.Errorf("%s %s: %d %q, want 403 with the broker's reason", r.method, r.path, resp.StatusCode, msg.Message)
		}
	}
	// Allowed: a new tag of its own repository, from the request.
	tag := "envgym-swe-base:brokertest" + f.owner
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "etc/hostname", Mode: 0o644, Size: 2})
	tw.Write([]byte("x\n"))
	tw.Close()
	rc, err := f.cli.ImageImport(ctx, image.ImportSource{Source: &tarball, SourceName: "-"}, tag, image.ImportOptions{Changes: []string{"USER 65534:65534"}})
	if err != nil {
		t.Fatalf("import into its own repository: %v", err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	t.Cleanup(func() { f.direct.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })
	if _, err := f.cli.ImageInspect(ctx, tag); err != nil {
		t.Errorf("inspect the imported image: %v", err)
	}
	rc, err = f.cli.ImageImport(ctx, image.ImportSource{Source: strings.NewReader(""), SourceName: "-"}, tag, image.ImportOptions{})
	if err == nil {
		rc.Close()
	}
	wantRefused(t, err, "exists")
}

// BenchmarkSweEpisode: what the broker costs a swe episode on the Docker
// backend: a sandbox started (container create and start), one command
// run in it (exec create, hijacked attach, inspect) and closed (remove),
// directly on the engine and through the broker, alternating within each
// iteration so both see the same machine load.
func BenchmarkSweEpisode(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	direct, err := swe.NewDocker(ctx, swe.DockerConfig{Dir: f.roots[0], MemoryMB: 512, CPUs: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	b.Setenv("DOCKER_HOST", "unix://"+f.sock)
	brokered, err := swe.NewDocker(ctx, swe.DockerConfig{Dir: f.roots[0], MemoryMB: 512, CPUs: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer brokered.Close()
	// reset (start), step (one command), close (remove)
	type times [3]time.Duration
	episode := func(d *swe.Docker) (t times) {
		t0 := time.Now()
		s, err := d.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := s.Exec(ctx, "echo ok > /work/f && cat /work/f", swe.ExecOptions{Timeout: time.Minute})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("exec: %v, exit %d: %s", err, res.ExitCode, res.Output)
		}
		t2 := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		return times{t1.Sub(t0), t2.Sub(t1), time.Since(t2)}
	}
	episode(direct)
	episode(brokered)
	var dsum, bsum times
	add := func(sum *times, t times) {
		for k := range t {
			sum[k] += t[k]
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			add(&dsum, episode(direct))
			add(&bsum, episode(brokered))
		} else {
			add(&bsum, episode(brokered))
			add(&dsum, episode(direct))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	for k, name := range []string{"reset", "step", "close"} {
		b.ReportMetric(ms(dsum[k]), "direct_"+name+"_ms")
		b.ReportMetric(ms(bsum[k]), "broker_"+name+"_ms")
	}
	total := func(t times) time.Duration { return t[0] + t[1] + t[2] }
	b.ReportMetric(float64(total(bsum))/float64(total(dsum)), "broker/direct")
}

// BenchmarkInspect: the broker's own cost on one small call (container
// inspect of its own container: one more HTTP hop, the ownership known
// from the create), direct and through the broker alternating.
func BenchmarkInspect(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	c, h := f.sweShape(b)
	resp, err := f.cli.ContainerCreate(ctx, c, h, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	var dsum, bsum time.Duration
	b.ResetTimer()
	inspect := func(cli *client.Client) time.Duration {
		t0 := time.Now()
		if _, err := cli.ContainerInspect(ctx, resp.ID); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			dsum += inspect(f.direct)
			bsum += inspect(f.cli)
		} else {
			bsum += inspect(f.cli)
			dsum += inspect(f.direct)
		}
	}
	b.ReportMetric(float64(dsum.Microseconds())/float64(b.N), "direct_us/call")
	b.ReportMetric(float64(bsum.Microseconds())/float64(b.N), "broker_us/call")
}
