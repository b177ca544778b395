package view

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Train is a `gym train --out DIR` folder: its metrics.jsonl (one line
// per iteration), report.json, and the trajectory files recorded in it
// (evaluation episodes), opened as runs of their own.
type Train struct {
	ID      string
	Name    string
	Dir     string
	Series  map[string][]Point // metric → (env steps or iteration, value)
	X       string             // what the x axis counts: "env_steps" or "iter"
	Report  map[string]any
	Runs    []string // ids of the runs recorded in the folder
	Iters   int
	Notices []Notice
}

// Point is one value of a metric.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// metricsFile is the trainer's per-iteration log (see trainer.Config.OutDir).
const metricsFile = "metrics.jsonl"

// IsTrainDir reports whether dir looks like a training run's output.
func IsTrainDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, metricsFile))
	return err == nil
}

// OpenTrain reads a training folder's metrics and report. The metrics
// are read generically (every numeric field becomes a series), so the
// viewer needs no change when the trainer logs a new figure.
func OpenTrain(id, dir string) (*Train, error) {
	t := &Train{ID: id, Name: filepath.Base(filepath.Clean(dir)), Dir: dir, Series: map[string][]Point{}, X: "env_steps"}
	f, err := os.Open(filepath.Join(dir, metricsFile))
	if err != nil {
		return nil, fmt.Errorf("view: %s is not a training run (no %s): %w", dir, metricsFile, err)
	}
	defer f.Close()
	var rows []map[string]any
	bad := 0
	if err := eachLine(f, func(_ int, _ int64, line []byte) {
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			bad++
			return
		}
		rows = append(rows, m)
	}); err != nil {
		t.Notices = append(t.Notices, Notice{"error", fmt.Sprintf("reading %s stopped: %v", metricsFile, err)})
	}
	if bad > 0 {
		t.Notices = append(t.Notices, Notice{"warn", fmt.Sprintf("%s: %d line(s) are not valid JSON and were skipped", metricsFile, bad)})
	}
	if len(rows) == 0 {
		t.Notices = append(t.Notices, Notice{"warn", metricsFile + " has no iterations yet"})
	}
	t.Iters = len(rows)
	for _, m := range rows {
		if _, ok := m["env_steps"].(float64); !ok {
			t.X = "iter"
		}
	}
	for i, m := range rows {
		x := float64(i)
		if v, ok := m[t.X].(float64); ok {
			x = v
		}
		for k, v := range m {
			if y, ok := v.(float64); ok && k != t.X {
				t.Series[k] = append(t.Series[k], Point{x, y})
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.json")); err == nil {
		if err := json.Unmarshal(b, &t.Report); err != nil {
			t.Notices = append(t.Notices, Notice{"warn", "report.json is not valid JSON: " + err.Error()})
		}
		delete(t.Report, "iters") // the same figures as metrics.jsonl
	}
	return t, nil
}

// trajectoryFiles lists the steps files recorded in dir.
func trajectoryFiles(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".manifest.jsonl") || n == metricsFile {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out
}
