package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym/trajectory"
)

func TestChaosCLI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "chaos")
	csvPath, pngPath := filepath.Join(t.TempDir(), "leak.csv"), filepath.Join(t.TempDir(), "leak.png")
	r := mustGym(t, "chaos", "--envs", "text/corridor-v0", "--episodes", "30", "--fault-rate", "0.2",
		"--faults", "kill,oom,stop", "--step-timeout", "1s", "--ping-timeout", "300ms", "--soak", "40", "--seed", "3", "--out", out, "--json",
		"--samples", csvPath, "--plot", pngPath)
	s := decode[chaosSummary](t, r.stdout)
	rep, ok := s.Envs["text/corridor-v0"]
	if !ok || !s.OK || len(s.Errors) != 0 || s.Seed != 3 || s.Episodes != 30 {
		t.Fatalf("summary: %+v", s)
	}
	if rep.Faults < 5 || rep.HostCrashes != 0 || rep.LostEpisodes != 0 || rep.Unreported != 0 || rep.Completed != 30 {
		t.Errorf("report: %+v", rep)
	}
	if ms, err := trajectory.ReadManifests(trajectory.ManifestPath(rep.Trajectory)); err != nil || len(ms) != 30 || !strings.HasPrefix(rep.Trajectory, out) {
		t.Errorf("trajectory %s: %d manifests, %v", rep.Trajectory, len(ms), err)
	}
	// The soak's samples: a header and one row per sample, resets rising;
	// the plot a PNG.
	rows, err := csv.NewReader(mustOpen(t, csvPath)).ReadAll()
	if err != nil || len(rows) != rep.Samples+1 || rep.Samples < 10 || rows[0][0] != "env_id" || rows[1][0] != "text/corridor-v0" {
		t.Errorf("samples CSV: %d rows for %d samples, %v", len(rows), rep.Samples, err)
	}
	if png, err := os.ReadFile(pngPath); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %v", err)
	}
	// The keys scripts rely on.
	var raw struct {
		Envs map[string]map[string]json.RawMessage `json:"envs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"faults", "host_crashes", "lost_episodes", "rss_slope_kib_per_100_resets"} {
		if _, ok := raw.Envs["text/corridor-v0"][k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}

	table := mustGym(t, "chaos", "--envs", "text/maze-v0", "--episodes", "6", "--faults", "kill", "--fault-rate", "0.5", "--soak", "0").stdout
	if !strings.Contains(table, "HOST CRASHES") || !strings.Contains(table, "text/maze-v0") || !strings.Contains(table, "kill 3") {
		t.Errorf("table:\n%s", table)
	}
	if r := runGym(t, "", "chaos", "--faults", "explode"); r.code == 0 || !strings.Contains(r.stderr, "kill, stop, oom, kill_child, kill_container or stop_container") {
		t.Errorf("unknown fault: exit %d, stderr %q", r.code, r.stderr)
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}
