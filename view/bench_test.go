package view

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// BenchmarkOpenLargeRun opens a run of VIEW_BENCH_EPISODES episodes
// (default 10,000) of 100 steps each and reads its first page and one
// episode: what a user waits for before the table shows. It reports the
// time until the whole steps file is indexed too.
func BenchmarkOpenLargeRun(b *testing.B) {
	episodes := 10000
	if v, err := strconv.Atoi(os.Getenv("VIEW_BENCH_EPISODES")); err == nil && v > 0 {
		episodes = v
	}
	path := filepath.Join(b.TempDir(), "large.jsonl")
	writeLargeRun(b, path, episodes, 100)
	st, _ := os.Stat(path)
	b.ResetTimer()
	var firstPage, indexed time.Duration
	for range b.N {
		start := time.Now()
		r, err := OpenRun("r0", path)
		if err != nil {
			b.Fatal(err)
		}
		p := r.Episodes(Query{Limit: 100})
		firstPage += time.Since(start)
		r.Wait()
		indexed += time.Since(start)
		if p.Total != episodes {
			b.Fatalf("%d episodes listed, want %d", p.Total, episodes)
		}
		d, err := r.Episode(p.Episodes[len(p.Episodes)-1].ID)
		if err != nil || len(d.Steps) != 100 {
			b.Fatalf("episode: %d steps, %v", len(d.Steps), err)
		}
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	b.ReportMetric(float64(firstPage.Milliseconds())/float64(b.N), "ms/first-page")
	b.ReportMetric(float64(indexed.Milliseconds())/float64(b.N), "ms/indexed")
}

// writeLargeRun writes the files the Recorder would, without its
// per-episode fsync (which would dominate the set-up).
func writeLargeRun(b *testing.B, path string, episodes, steps int) {
	b.Helper()
	sf, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	mf, err := os.Create(trajectory.ManifestPath(path))
	if err != nil {
		b.Fatal(err)
	}
	sw, mw := bufio.NewWriter(sf), bufio.NewWriter(mf)
	line := func(w *bufio.Writer, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(append(j, '\n'))
	}
	obs := "Goal: reach the exit.\nYou are in a room with doors to the north and east. A key lies here.\n"
	for e := range episodes {
		id := fmt.Sprintf("ep%06d", e)
		for i := range steps {
			line(sw, trajectory.Step{EpisodeID: id, EnvID: "text/maze-v0", TaskID: "easy", Seed: int64(e), Step: i,
				Obs: obs, ValidActions: []string{"north", "east", "take key"}, Action: "north", NextObs: obs,
				Status: gym.StatusOK, Grounded: true, Terminated: i == steps-1})
		}
		line(mw, trajectory.Manifest{EpisodeID: id, EnvID: "text/maze-v0", EnvVersion: "0.1.0", TaskID: "easy", Seed: int64(e),
			Steps: steps, Return: 1, Success: true, Terminated: true, StatusCounts: map[string]int{"OK": steps}})
	}
	for _, f := range []struct {
		w *bufio.Writer
		f *os.File
	}{{sw, sf}, {mw, mf}} {
		if err := f.w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.f.Close()
	}
}
