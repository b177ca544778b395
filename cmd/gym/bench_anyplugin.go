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

// actor picks the bench's next action for one env.
type actor struct {
	env    gym.Env
	oracle gym.Oracle
	seed   int64
}

func newActor(env gym.Env) *actor {
	o, _ := gym.Capable[gym.Oracle](env)
	return &actor{env: env, oracle: o}
}

func (a *actor) reset(ctx context.Context) (gym.Observation, error) {
	a.seed++
	return a.env.Reset(ctx, gym.ResetOptions{Seed: a.seed})
}

func (a *actor) act(ctx context.Context, obs gym.Observation) string {
	if len(obs.ValidActions) > 0 {
		return obs.ValidActions[0]
	}
	if a.oracle != nil {
		if s, err := a.oracle.OracleAction(ctx); err == nil {
			return s
		}
	}
	return "noop"
}

// run steps until n steps are done (n > 0) or the deadline, calling each
// with the duration of every step.
func (a *actor) run(ctx context.Context, n int, deadline time.Time, each func(time.Duration)) error {
	obs, err := a.reset(ctx)
	if err != nil {
		return err
	}
	for i := 0; (n > 0 && i < n) || (n == 0 && time.Now().Before(deadline)); i++ {
		action := a.act(ctx, obs)
		start := time.Now()
		r, err := a.env.Step(ctx, action)
		d := time.Since(start)
		if err != nil {
			return err
		}
		if r.Status.Infra() {
			return fmt.Errorf("step %d: %s: %s", i, r.Status, r.Observation.Text)
		}
		each(d)
		obs = r.Observation
		if r.Done() {
			if obs, err = a.reset(ctx); err != nil {
				return err
			}
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
