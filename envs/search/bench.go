package search

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/kb"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/stats"
)

// BenchConfig sizes a benchmark run (`gym bench search`).
type BenchConfig struct {
	Passages int    // generated corpus size (default 100000)
	Seed     uint64 // knowledge base seed
	Queries  int    // timed searches (default 2000)
	Episodes int    // oracle episodes for steps/s (default 200)
	TopK     int    // results per search (default 10)
	// CacheDir holds the index. Empty: a fresh temporary directory,
	// removed afterwards, so build_s times a real build.
	CacheDir string
	Progress io.Writer // progress bar of the index build; nil for none
}

// BenchResult holds the figures; JSON keys are stable for the CLI.
type BenchResult struct {
	Docs        int     `json:"docs"`
	GenerateS   float64 `json:"generate_s"`
	BuildS      float64 `json:"build_s"`
	IndexReused bool    `json:"index_reused"`
	Queries     int     `json:"queries"`
	TopK        int     `json:"top_k"`
	SearchP50Ms float64 `json:"search_p50_ms"`
	SearchP99Ms float64 `json:"search_p99_ms"`
	// SearchStepP50Ms is a whole search step: retrieval plus snippets.
	SearchStepP50Ms float64 `json:"search_step_p50_ms"`
	OpenP50Ms       float64 `json:"open_p50_ms"`
	StepsPerS       float64 `json:"steps_per_s"`
	Episodes        int     `json:"episodes"`
	OracleEM        float64 `json:"oracle_em"`
}

// Bench generates a fictional corpus, builds its index and times searches
// (top-k over question texts and entity names, the queries agents send),
// open steps and oracle episodes.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Passages == 0 {
		cfg.Passages = 100_000
	}
	if cfg.Queries <= 0 {
		cfg.Queries = 2000
	}
	if cfg.Episodes <= 0 {
		cfg.Episodes = 200
	}
	if cfg.TopK <= 0 {
		cfg.TopK = 10
	}
	if cfg.CacheDir == "" {
		dir, err := os.MkdirTemp("", "envgym-search-bench-")
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.CacheDir = dir
	}
	res := BenchResult{Queries: cfg.Queries, Episodes: cfg.Episodes, TopK: cfg.TopK}

	start := time.Now()
	k, err := kb.Generate(kb.Config{Seed: cfg.Seed, Passages: cfg.Passages})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	cor, err := corpus.New(k.Docs)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.GenerateS = time.Since(start).Seconds()
	res.Docs = cor.Len()

	c := defaultConfig()
	c.seed, c.passages, c.cacheDir, c.progress = cfg.Seed, cfg.Passages, cfg.CacheDir, cfg.Progress != nil
	st := newStore(cfg.Progress)
	defer st.close()
	start = time.Now()
	db, err := st.get(ctx, "bench", func(ctx context.Context) (*database, error) {
		return st.open(ctx, c, cor, k.Questions, "bench")
	})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.BuildS = time.Since(start).Seconds()
	res.IndexReused = !db.index.Built

	var queries []string
	for _, q := range k.Questions {
		queries = append(queries, q.Question)
		queries = append(queries, q.Queries...)
	}
	lat := make([]time.Duration, 0, cfg.Queries)
	for i := range cfg.Queries {
		q := queries[i%len(queries)]
		t := time.Now()
		if _, err := db.index.Search(ctx, q, cfg.TopK); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	res.SearchP50Ms, res.SearchP99Ms = ms(pct(lat, 50)), ms(pct(lat, 99))

	c.topK = cfg.TopK
	e := newEnv(baseSpec(FictionalID, "bench", true), c, db)
	var searchSteps, openSteps, all []time.Duration
	em := 0.0
	for ep := range cfg.Episodes {
		if _, err := e.Reset(ctx, gym.ResetOptions{Seed: int64(ep)}); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		for {
			a, err := e.OracleAction(ctx)
			if err != nil {
				return res, fmt.Errorf("bench: oracle: %w", err)
			}
			t := time.Now()
			r, err := e.Step(ctx, a)
			d := time.Since(t)
			if err != nil {
				return res, fmt.Errorf("bench: step: %w", err)
			}
			all = append(all, d)
			switch {
			case len(a) > 5 && a[:5] == "open(":
				openSteps = append(openSteps, d)
			case len(a) > 7 && a[:7] == "search(":
				searchSteps = append(searchSteps, d)
			}
			if r.Done() {
				if v, ok := r.Observation.Info["em"].(float64); ok {
					em += v
				}
				break
			}
		}
	}
	res.OracleEM = em / float64(cfg.Episodes)
	res.SearchStepP50Ms, res.OpenP50Ms = ms(pct(searchSteps, 50)), ms(pct(openSteps, 50))
	var total time.Duration
	for _, d := range all {
		total += d
	}
	if total > 0 {
		res.StepsPerS = float64(len(all)) / total.Seconds()
	}
	return res, nil
}

func pct(ds []time.Duration, p int) time.Duration { return stats.Percentile(ds, float64(p)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
