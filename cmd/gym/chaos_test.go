package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym/trajectory"
)

func TestChaosCLI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "chaos")
	r := mustGym(t, "chaos", "--envs", "text/corridor-v0", "--episodes", "30", "--fault-rate", "0.2",
		"--faults", "kill,oom,stop", "--step-timeout", "1s", "--ping-timeout", "300ms", "--soak", "40", "--seed", "3", "--out", out, "--json")
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
