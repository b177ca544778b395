package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/plugins"
)

// benchAnyResult is what `gym bench plugin --plugin PATH --json` prints:
// the foundation's keys for the given plugin's env (no in-process
// figures: its code may not be Go), and the Go text env beside it.
type benchAnyResult struct {
	EnvID       string  `json:"env_id"`
	PluginP50US float64 `json:"plugin_p50_us"`
	PluginP99US float64 `json:"plugin_p99_us"`
	StepsPerS1  float64 `json:"steps_per_s_1"`
	StepsPerS8  float64 `json:"steps_per_s_8"`
	// Reference is the same measurement of text/maze-v0 (Go) from the
	// plugin directory, when it is installed.
	Reference *benchAnyResult `json:"reference,omitempty"`
}

// benchAnyPlugin measures the first env (or envID) of the plugin at path.
func benchAnyPlugin(ctx context.Context, a *app, path, envID string, steps int, dur time.Duration) (benchAnyResult, error) {
	dir, err := os.MkdirTemp("", "gym-bench-")
	if err != nil {
		return benchAnyResult{}, err
	}
	defer os.RemoveAll(dir)
	m, err := plugins.Install(ctx, path, dir, plugins.InstallOptions{})
	if err != nil {
		return benchAnyResult{}, fmt.Errorf("bench plugin: %w", err)
	}
	if envID == "" {
		envID = m.Envs[0]
	}
	host := plugins.New(plugins.Config{Dir: dir})
	defer host.Close()
	res, err := benchEnv(ctx, host, envID, steps, dur)
	if err != nil {
		return res, err
	}
	ref := plugins.New(plugins.Config{Dir: a.pluginDir})
	defer ref.Close()
	if _, ok := ref.Plugin("text/maze-v0"); ok {
		r, err := benchEnv(ctx, ref, "text/maze-v0", steps, dur)
		if err != nil {
			return res, fmt.Errorf("bench reference: %w", err)
		}
		res.Reference = &r
	}
	return res, nil
}

// benchEnv times steps of any env, acting with its first valid action,
// else its oracle, else "noop"; invalid actions count like any step.
func benchEnv(ctx context.Context, host *plugins.Host, id string, steps int, dur time.Duration) (benchAnyResult, error) {
	res := benchAnyResult{EnvID: id}
	envs := make([]gym.Env, benchConcurrency)
	for i := range envs {
		e, err := host.Make(ctx, id, nil)
		if err != nil {
			return res, err
		}
		defer e.Close()
		envs[i] = e
	}
	ds, err := anyLatencies(ctx, envs[0], steps)
	if err != nil {
		return res, err
	}
	res.PluginP50US, res.PluginP99US = percentile(ds, 50), percentile(ds, 99)
	if res.StepsPerS1, err = anyThroughput(ctx, envs[:1], dur); err != nil {
		return res, err
	}
	res.StepsPerS8, err = anyThroughput(ctx, envs, dur)
	return res, err
}

// actor plays one env for the bench: episodes of play.First (its first
// valid action, else its oracle's, else "noop"), seeds 1, 2, …
type actor struct {
	env  gym.Env
	pol  play.Policy
	seed int64
}

func newActor(env gym.Env) *actor { return &actor{env: env, pol: play.First(env)} }

// run steps until n steps are done (n > 0) or the deadline, calling each
// with the duration of every step.
func (a *actor) run(ctx context.Context, n int, deadline time.Time, each func(time.Duration)) error {
	steps := 0
	pol := play.Until(a.pol, func() bool { return n == 0 && !time.Now().Before(deadline) })
	for (n > 0 && steps < n) || (n == 0 && time.Now().Before(deadline)) {
		a.seed++
		opts := play.Options{Reset: gym.ResetOptions{Seed: a.seed}, OnStep: func(s play.Step) { each(s.Duration) }}
		if n > 0 {
			opts.MaxSteps = n - steps
		}
		st, err := play.Episode(ctx, a.env, pol, opts)
		steps += st.Steps
		if err != nil {
			return err
		}
		if st.Infra {
			return fmt.Errorf("step %d: %s: %s", steps, st.Final.Status, st.Final.Observation.Text)
		}
	}
	return nil
}

func anyLatencies(ctx context.Context, env gym.Env, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	err := newActor(env).run(ctx, n, time.Time{}, func(d time.Duration) { out = append(out, d) })
	return out, err
}

func anyThroughput(ctx context.Context, envs []gym.Env, d time.Duration) (float64, error) {
	var total atomic.Int64
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, env := range envs {
		wg.Go(func() {
			errs[i] = newActor(env).run(ctx, 0, start.Add(d), func(time.Duration) { total.Add(1) })
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
