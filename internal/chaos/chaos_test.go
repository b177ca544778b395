package chaos

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/plugins"
)

// binDir holds the plugin binaries built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	plugins.SandboxInitMain() // the host in this test binary re-executes it as a plugin's sandbox init
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "envgym-chaos-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
		"github.com/envgym/envgym/envs/text/cmd/gym-plugin-text",
		"github.com/envgym/envgym/envs/search/cmd/gym-plugin-search",
		"github.com/envgym/envgym/envs/swe/cmd/gym-plugin-swe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build plugins:", err)
		return 1
	}
	return m.Run()
}

// newHost installs the named plugins into a fresh directory and opens a
// host with a short health check, as `gym chaos` does.
func newHost(t *testing.T, names ...string) *plugins.Host {
	t.Helper()
	return newHostWith(t, plugins.Sandbox{}, names...)
}

// newHostWith is newHost with the sandbox the manifests ask for.
func newHostWith(t *testing.T, sb plugins.Sandbox, names ...string) *plugins.Host {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if _, err := plugins.Install(context.Background(), filepath.Join(binDir, "gym-plugin-"+n), dir, plugins.InstallOptions{Sandbox: sb}); err != nil {
			t.Fatalf("install %s: %v", n, err)
		}
	}
	h := plugins.New(plugins.Config{Dir: dir, PingTimeout: 300 * time.Millisecond})
	if len(h.Problems) > 0 {
		t.Fatalf("discover: %v", h.Problems)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// checkPromises fails on every broken promise of the report.
func checkPromises(t *testing.T, rep Report, episodes int) {
	t.Helper()
	if !rep.OK() || rep.HostCrashes != 0 || rep.LostEpisodes != 0 || rep.Unreported != 0 || rep.ResetFailures != 0 || rep.FaultErrors != 0 {
		t.Errorf("broken promises: host_crashes %d, lost %d, unreported %d, reset failures %d, fault errors %d; problems:\n%v",
			rep.HostCrashes, rep.LostEpisodes, rep.Unreported, rep.ResetFailures, rep.FaultErrors, rep.Problems)
	}
	if rep.Episodes != episodes || rep.Completed+rep.Unfinished != episodes {
		t.Errorf("%d episodes started, %d completed, %d unfinished; want %d", rep.Episodes, rep.Completed, rep.Unfinished, episodes)
	}
	if got := rep.Reported + rep.BetweenEpisodes; got != rep.Faults {
		t.Errorf("%d faults landed, %d reported by a step or absorbed by a reset", rep.Faults, got)
	}
	if rep.PluginRestarts < rep.Faults {
		t.Errorf("%d faults but %d plugin restarts", rep.Faults, rep.PluginRestarts)
	}
	// The infra statuses on disk are the affected steps (and any that
	// failed on their own).
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(rep.Trajectory))
	if err != nil {
		t.Fatal(err)
	}
	infra := 0
	for _, m := range ms {
		for name, n := range m.StatusCounts {
			if s, _ := gym.ParseStatus(name); s.Infra() {
				infra += n
			}
		}
	}
	if len(ms) != rep.Completed || infra != rep.Reported+rep.SpontaneousInfra {
		t.Errorf("on disk: %d manifests with %d infra steps; the run saw %d episodes end and %d+%d infra steps",
			len(ms), infra, rep.Completed, rep.Reported, rep.SpontaneousInfra)
	}
}

func TestChaosText(t *testing.T) {
	const episodes = 150
	h := newHost(t, "text")
	faults := []Fault{Kill, Stop}
	if plugins.CgroupsWritable("/sys/fs/cgroup") && os.Geteuid() == 0 {
		faults = append(faults, OOM)
	}
	rep, err := Run(context.Background(), Config{
		Host: h, EnvID: "text/maze-v0", Dir: t.TempDir(), Episodes: episodes, Seed: 1,
		FaultRate: 0.15, Faults: faults, StepTimeout: time.Second, SoakResets: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPromises(t, rep, episodes)
	if rep.Faults < 18 {
		t.Errorf("only %d faults in %d episodes", rep.Faults, episodes)
	}
	for _, f := range faults {
		if rep.FaultsByKind[string(f)] == 0 {
			t.Errorf("no %s fault injected: %v", f, rep.FaultsByKind)
		}
	}
	if rep.AffectedStatuses["CRASHED"] == 0 || rep.AffectedStatuses["TIMEOUT"] == 0 {
		t.Errorf("affected statuses %v, want CRASHED (kill, oom) and TIMEOUT (stop)", rep.AffectedStatuses)
	}
	// Nothing that counts should grow with resets. RSS is bounded loosely:
	// a Go heap still grows toward its target early on.
	for name, v := range map[string]float64{
		"open files": rep.OpenFilesSlope, "children": rep.ChildrenSlope, "threads": rep.ThreadsSlope,
		"host goroutines": rep.HostGoroutinesSlope, "host open files": rep.HostOpenFilesSlope,
	} {
		if math.Abs(v) > 1 {
			t.Errorf("%s slope %.2f per 100 resets", name, v)
		}
	}
	if rep.RSSSlope > 4096 {
		t.Errorf("plugin RSS grows %.0f KiB per 100 resets", rep.RSSSlope)
	}
	t.Logf("text/maze-v0: %d episodes, %d steps, %d faults %v -> %v, host crashes %d, lost %d, rss slope %.1f KiB/100 resets, %.1fs",
		rep.Episodes, rep.Steps, rep.Faults, rep.FaultsByKind, rep.AffectedStatuses, rep.HostCrashes, rep.LostEpisodes, rep.RSSSlope, rep.DurationS)

	// And the env still works afterwards, on the same host.
	env, err := h.Make(context.Background(), "text/maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(context.Background(), gym.ResetOptions{Seed: 5}); err != nil {
		t.Fatalf("reset after chaos: %v", err)
	}
	if res, err := env.Step(context.Background(), "look"); err != nil || res.Status != gym.StatusOK {
		t.Fatalf("step after chaos: %+v, %v", res, err)
	}
}

func TestChaosSearch(t *testing.T) {
	const episodes = 20
	h := newHost(t, "search")
	rep, err := Run(context.Background(), Config{
		Host: h, EnvID: "search/fictional-v0", Dir: t.TempDir(), Episodes: episodes, Seed: 2,
		Options:   map[string]any{"passages": 500, "questions_per_hop": 5}, // the index goes to the plugin's own cache
		FaultRate: 0.3, Faults: []Fault{Kill, Stop}, StepTimeout: 2 * time.Second, SoakResets: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPromises(t, rep, episodes)
	if rep.Faults < 4 {
		t.Errorf("only %d faults", rep.Faults)
	}
	t.Logf("search/fictional-v0: %d episodes, %d faults %v -> %v, rss slope %.1f KiB/100 resets, %.1fs",
		rep.Episodes, rep.Faults, rep.FaultsByKind, rep.AffectedStatuses, rep.RSSSlope, rep.DurationS)
}

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		x, y   []float64
		groups []int
		want   float64
	}{
		{"flat", []float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, nil, 0},
		{"line", []float64{0, 10, 20, 30}, []float64{1, 3, 5, 7}, nil, 0.2},
		{"noise around a line", []float64{0, 1, 2, 3}, []float64{0, 2, 1, 3}, nil, 0.8},
		// Two processes, each growing by 1 per reset; the restart's drop
		// is not a trend.
		{"per process", []float64{0, 1, 2, 3, 4, 5}, []float64{100, 101, 102, 10, 11, 12}, []int{7, 7, 7, 9, 9, 9}, 1},
		{"flat per process", []float64{0, 1, 2, 3}, []float64{50, 50, 8, 8}, []int{1, 1, 2, 2}, 0},
		{"one sample", []float64{3}, []float64{9}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := slope(tc.x, tc.y, tc.groups); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("slope = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseFault(t *testing.T) {
	for _, f := range AllFaults() {
		if got, err := ParseFault(string(f)); err != nil || got != f {
			t.Errorf("ParseFault(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFault("explode"); err == nil {
		t.Error("ParseFault accepted an unknown fault")
	}
}
