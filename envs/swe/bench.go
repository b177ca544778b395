package swe

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/stats"
)

// BenchConfig sizes Bench. Zero counts skip that part.
type BenchConfig struct {
	// Backends to measure: "namespace", "docker"; default both.
	Backends []string
	Starts   int // sandbox starts (Backend.Start, cold) per backend
	Resets   int // env Resets (sandbox + repo copy; Docker with a warm pool of 1) per backend
	Execs    int // bash("true") per backend
	// Episodes is how many oracle episodes (tasks of seed 0) each backend plays.
	Episodes int
	// GenTasks is how many tasks to generate from scratch (default
	// sources, a fresh cache) for the tasks-per-minute rate.
	GenTasks int
	// Packages are the generator's sources; default DefaultPackages().
	Packages []string
	// Dir holds sandboxes and the shared Go build cache; CacheDir holds
	// the episodes' tasks. Defaults: the temp dir and the user cache dir.
	Dir, CacheDir string
	// GoCache is the shared build cache; default Dir/envgym-swe-gocache.
	// The first Reset of each repo fills it (once per machine), which
	// on a fresh cache takes a standard-library build.
	GoCache  string
	Progress io.Writer
}

// BenchResult holds medians; keys follow `gym bench swe --json`.
type BenchResult struct {
	StartP50MSDocker     float64            `json:"start_p50_ms_docker,omitempty"`
	StartP50MSNS         float64            `json:"start_p50_ms_ns,omitempty"`
	ReadyP50MSDocker     float64            `json:"ready_p50_ms_docker,omitempty"`
	ReadyP50MSNS         float64            `json:"ready_p50_ms_ns,omitempty"`
	ExecP50MSDocker      float64            `json:"exec_p50_ms_docker,omitempty"`
	ExecP50MSNS          float64            `json:"exec_p50_ms_ns,omitempty"`
	EpisodeP50S          float64            `json:"episode_p50_s,omitempty"`
	EpisodeP50SByBackend map[string]float64 `json:"episode_p50_s_by_backend,omitempty"`
	OracleSolved         map[string]int     `json:"oracle_solved,omitempty"`
	OracleEpisodes       int                `json:"oracle_episodes,omitempty"`
	TasksPerMin          float64            `json:"tasks_per_min,omitempty"`
}

// Bench measures the sandbox backends and the task generator.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if len(cfg.Backends) == 0 {
		cfg.Backends = []string{"namespace", "docker"}
	}
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	if cfg.CacheDir == "" {
		c, _ := os.UserCacheDir()
		cfg.CacheDir = filepath.Join(c, "envgym", "swe")
	}
	logf := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	res := BenchResult{EpisodeP50SByBackend: map[string]float64{}, OracleSolved: map[string]int{}, OracleEpisodes: cfg.Episodes}
	var tasks []Task
	if cfg.Episodes > 0 || cfg.Resets > 0 {
		var err error
		n := max(cfg.Episodes, 1)
		if tasks, err = Generate(ctx, GenConfig{Seed: 0, N: n, CacheDir: cfg.CacheDir, Packages: cfg.Packages, Progress: cfg.Progress}); err != nil {
			return res, err
		}
	}
	var allEpisodes []float64
	for _, name := range cfg.Backends {
		gocache := cfg.GoCache
		if gocache == "" {
			gocache = filepath.Join(cfg.Dir, "envgym-swe-gocache")
		}
		mk := func(warm int) (Backend, func() error, error) {
			switch name {
			case "namespace":
				b, err := NewNamespace(NamespaceConfig{Dir: cfg.Dir, GoCache: gocache})
				return b, func() error { return nil }, err
			case "docker":
				b, err := NewDocker(ctx, DockerConfig{Dir: cfg.Dir, GoCache: gocache, Warm: warm})
				if err != nil {
					return nil, nil, err
				}
				return b, b.Close, nil
			}
			return nil, nil, fmt.Errorf("swe: bench: unknown backend %q (want namespace or docker)", name)
		}
		b, closeB, err := mk(0)
		if err != nil {
			return res, err
		}
		var starts, execs []float64
		for range cfg.Starts {
			t0 := time.Now()
			s, err := b.Start(ctx)
			if err != nil {
				closeB()
				return res, err
			}
			starts = append(starts, ms(time.Since(t0)))
			s.Close()
		}
		if cfg.Execs > 0 {
			s, err := b.Start(ctx)
			if err != nil {
				closeB()
				return res, err
			}
			for range cfg.Execs {
				t0 := time.Now()
				if _, err := s.Exec(ctx, "true", ExecOptions{}); err != nil {
					s.Close()
					closeB()
					return res, err
				}
				execs = append(execs, ms(time.Since(t0)))
			}
			s.Close()
		}
		closeB()
		logf("%s: start p50 %.1f ms, exec p50 %.1f ms", name, p50(starts), p50(execs))

		// Resets and episodes through the env, as an agent sees them.
		var readies, episodes []float64
		if cfg.Resets > 0 || cfg.Episodes > 0 {
			b, closeB, err := mk(1)
			if err != nil {
				return res, err
			}
			e := &Env{spec: gym.Spec{ID: GenID, MaxSteps: 100}, backend: b, closeBackend: closeB,
				load: func(context.Context) ([]Task, error) { return tasks, nil }}
			for i := range cfg.Resets {
				if i > 0 {
					time.Sleep(100 * time.Millisecond) // let the warm pool refill, as think time would
				}
				t0 := time.Now()
				if _, err := e.Reset(ctx, gym.ResetOptions{Seed: int64(i)}); err != nil {
					e.Close()
					return res, err
				}
				readies = append(readies, ms(time.Since(t0)))
			}
			for i := range cfg.Episodes {
				t0 := time.Now()
				r, err := playOracle(ctx, e, int64(i))
				if err != nil {
					e.Close()
					return res, err
				}
				episodes = append(episodes, time.Since(t0).Seconds())
				if r == 1 {
					res.OracleSolved[name]++
				}
			}
			e.Close()
			logf("%s: ready p50 %.1f ms, oracle %d/%d solved, episode p50 %.2f s", name, p50(readies), res.OracleSolved[name], cfg.Episodes, p50(episodes))
		}
		allEpisodes = append(allEpisodes, episodes...)
		if len(episodes) > 0 {
			res.EpisodeP50SByBackend[name] = p50(episodes)
		}
		switch name {
		case "namespace":
			res.StartP50MSNS, res.ExecP50MSNS, res.ReadyP50MSNS = p50(starts), p50(execs), p50(readies)
		case "docker":
			res.StartP50MSDocker, res.ExecP50MSDocker, res.ReadyP50MSDocker = p50(starts), p50(execs), p50(readies)
		}
	}
	res.EpisodeP50S = p50(allEpisodes)
	if cfg.GenTasks > 0 {
		dir, err := os.MkdirTemp(cfg.Dir, "envgym-swe-bench-gen-")
		if err != nil {
			return res, fmt.Errorf("swe: bench: %w", err)
		}
		defer os.RemoveAll(dir)
		t0 := time.Now()
		if _, err := Generate(ctx, GenConfig{Seed: 12345, N: cfg.GenTasks, CacheDir: dir, Packages: cfg.Packages, Progress: cfg.Progress}); err != nil {
			return res, err
		}
		res.TasksPerMin = float64(cfg.GenTasks) / time.Since(t0).Minutes()
		logf("generator: %d tasks in %v (%.1f/min)", cfg.GenTasks, time.Since(t0).Round(time.Second), res.TasksPerMin)
	}
	return res, nil
}

// playOracle plays one oracle episode and returns its final reward.
func playOracle(ctx context.Context, e *Env, seed int64) (float64, error) {
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: seed}); err != nil {
		return 0, err
	}
	for range 20 {
		a, err := e.OracleAction(ctx)
		if err != nil {
			return 0, err
		}
		r, err := e.Step(ctx, a)
		if err != nil {
			return 0, err
		}
		if r.Status.Infra() {
			return 0, fmt.Errorf("swe: oracle step %q: %s: %s", a, r.Status, r.Observation.Text)
		}
		if r.Done() {
			return r.Reward, nil
		}
	}
	return 0, fmt.Errorf("swe: oracle did not finish in 20 steps")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func p50(xs []float64) float64 { return stats.Percentile(xs, 50) }
