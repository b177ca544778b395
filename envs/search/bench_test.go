package search

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/envgym/envgym/gym"
)

// benchPassages is the corpus size of the benchmarks:
// SEARCH_BENCH_PASSAGES, default 20000. The index is cached under the temp
// dir, so only the first run builds it.
func benchEnv(b *testing.B) *env {
	b.Helper()
	n, _ := strconv.Atoi(os.Getenv("SEARCH_BENCH_PASSAGES"))
	if n == 0 {
		n = 20000
	}
	r := newRegistry(b)
	return makeEnv(b, r, FictionalID, map[string]any{
		"passages": n, "cache_dir": filepath.Join(os.TempDir(), "envgym-search-bench-cache"), "top_k": 10,
	})
}

// BenchmarkSearch times top-10 retrieval over question texts and entity
// names.
func BenchmarkSearch(b *testing.B) {
	e := benchEnv(b)
	var qs []string
	for _, q := range e.db.questions {
		qs = append(qs, q.Question)
		qs = append(qs, q.Queries...)
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := e.db.index.Search(ctx, qs[i%len(qs)], 10); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(e.db.corpus.Len()), "docs")
}

// BenchmarkOracleSteps plays oracle episodes and reports env steps/s.
func BenchmarkOracleSteps(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	steps, ep := 0, 0
	if _, err := e.Reset(ctx, gym.ResetOptions{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		a, err := e.OracleAction(ctx)
		if err != nil {
			b.Fatal(err)
		}
		r, err := e.Step(ctx, a)
		if err != nil {
			b.Fatal(err)
		}
		steps++
		if r.Done() {
			ep++
			if _, err := e.Reset(ctx, gym.ResetOptions{Seed: int64(ep)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkBench runs the CLI benchmark once (default 100k passages, or
// SEARCH_BENCH_PASSAGES) and reports its figures.
func BenchmarkBench(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SEARCH_BENCH_PASSAGES"))
	res, err := Bench(context.Background(), BenchConfig{Passages: n})
	if err != nil {
		b.Fatal(err)
	}
	out, _ := json.Marshal(res)
	b.Log(string(out))
	b.ReportMetric(res.BuildS, "build_s")
	b.ReportMetric(res.SearchP50Ms, "search_p50_ms")
	b.ReportMetric(res.SearchP99Ms, "search_p99_ms")
	b.ReportMetric(res.OpenP50Ms, "open_p50_ms")
	b.ReportMetric(res.StepsPerS, "steps/s")
}

func TestBenchSmall(t *testing.T) {
	res, err := Bench(context.Background(), BenchConfig{Passages: 2000, Queries: 200, Episodes: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Docs != 2000 || res.IndexReused || res.OracleEM != 1 || res.SearchP50Ms <= 0 || res.StepsPerS <= 0 {
		t.Fatalf("%+v", res)
	}
}
