package web

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/stats"
)

// BenchConfig sets the size of Bench. Zero values pick defaults.
type BenchConfig struct {
	EnvID    string        `json:"env_id"`   // default web/click-checkboxes-v0
	Steps    int           `json:"steps"`    // timed steps for the step median; default 200
	Resets   int           `json:"resets"`   // timed resets; default 50
	Duration time.Duration `json:"duration"` // per throughput run (1 and 4 envs); default 3s
	Options  Options       `json:"-"`
	// MakeOptions are the env's make options (e.g. preload_start).
	MakeOptions map[string]any `json:"make_options,omitempty"`
}

// BenchResult is what `gym bench web` prints.
type BenchResult struct {
	EnvID     string  `json:"env_id"`
	Chromium  string  `json:"chromium"`
	StepP50Ms float64 `json:"step_p50_ms"` // click + settle + observation, the same element every step
	StepP90Ms float64 `json:"step_p90_ms"`
	// StepMovingP50Ms is a step that clicks another element than the
	// last one (two elements in turn), as an agent's steps mostly do: the
	// pointer moves first.
	StepMovingP50Ms float64 `json:"step_moving_p50_ms"`
	ResetP50Ms      float64 `json:"reset_p50_ms"` // back-to-back resets: each takes a fresh context, made on the spot when none is ready
	ResetP90Ms      float64 `json:"reset_p90_ms"`
	// ResetFreshContextP50Ms times resets with a few steps between them,
	// as in training: each reset takes a fresh browser context that the
	// suite made ahead during the episode.
	ResetFreshContextP50Ms float64 `json:"reset_fresh_context_p50_ms"`
	ActionsPerS1           float64 `json:"actions_per_s_1"`
	ActionsPerS4           float64 `json:"actions_per_s_4"`
	MiBPerEnv              float64 `json:"mib_per_env"`     // Chromium PSS added by one env instance
	BrowserMiB             float64 `json:"browser_mib"`     // Chromium PSS with one env
	ProcessRSSMiB          float64 `json:"process_rss_mib"` // this process
}

// Bench measures the web envs in process with their own Chromium: step and
// reset medians on one env, throughput with 1 and 4 concurrent envs, and
// memory per env.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.EnvID == "" {
		cfg.EnvID = "web/click-checkboxes-v0"
	}
	if cfg.Steps == 0 {
		cfg.Steps = 200
	}
	if cfg.Resets == 0 {
		cfg.Resets = 50
	}
	if cfg.Duration == 0 {
		cfg.Duration = 3 * time.Second
	}
	s := New(cfg.Options)
	defer s.Close()
	reg := gym.NewRegistry()
	if err := s.Register(reg); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{EnvID: cfg.EnvID, Chromium: s.version}
	mk := func() (*benchEnv, error) {
		e, err := reg.Make(ctx, cfg.EnvID, cfg.MakeOptions)
		if err != nil {
			return nil, err
		}
		b := &benchEnv{Env: e}
		return b, b.reset(ctx, 0)
	}
	first, err := mk()
	if err != nil {
		return res, fmt.Errorf("web: bench: %w", err)
	}
	defer first.Close()
	// Warm up, then time resets and steps.
	for i := 0; i < 5; i++ {
		if _, err := first.step(ctx); err != nil {
			return res, err
		}
	}
	resets := make([]time.Duration, 0, cfg.Resets)
	for i := 0; i < cfg.Resets; i++ {
		t0 := time.Now()
		if err := first.reset(ctx, int64(i%5)); err != nil {
			return res, fmt.Errorf("web: bench: reset: %w", err)
		}
		resets = append(resets, time.Since(t0))
	}
	fresh := make([]time.Duration, 0, cfg.Resets)
	for i := 0; i < cfg.Resets; i++ {
		for j := 0; j < 3; j++ {
			if _, err := first.step(ctx); err != nil {
				return res, fmt.Errorf("web: bench: step: %w", err)
			}
		}
		t0 := time.Now()
		if err := first.reset(ctx, int64(i%5)); err != nil {
			return res, fmt.Errorf("web: bench: reset: %w", err)
		}
		fresh = append(fresh, time.Since(t0))
	}
	res.ResetFreshContextP50Ms = quantileMs(fresh, 0.5)
	steps := make([]time.Duration, 0, cfg.Steps)
	for i := 0; i < cfg.Steps; i++ {
		d, err := first.step(ctx)
		if err != nil {
			return res, fmt.Errorf("web: bench: step: %w", err)
		}
		steps = append(steps, d)
	}
	res.StepP50Ms, res.StepP90Ms = quantileMs(steps, 0.5), quantileMs(steps, 0.9)
	moving := make([]time.Duration, 0, cfg.Steps)
	for i := 0; i < cfg.Steps; i++ {
		d, err := first.stepMoving(ctx, i)
		if err != nil {
			return res, fmt.Errorf("web: bench: step: %w", err)
		}
		moving = append(moving, d)
	}
	res.StepMovingP50Ms = quantileMs(moving, 0.5)
	res.ResetP50Ms, res.ResetP90Ms = quantileMs(resets, 0.5), quantileMs(resets, 0.9)
	res.ActionsPerS1, err = throughput(ctx, []*benchEnv{first}, cfg.Duration)
	if err != nil {
		return res, err
	}
	st1, err := s.Browser().Stats(ctx)
	if err != nil {
		return res, err
	}
	res.BrowserMiB = st1.RSSMiB
	envs := []*benchEnv{first}
	for i := 0; i < 3; i++ {
		e, err := mk()
		if err != nil {
			return res, fmt.Errorf("web: bench: %w", err)
		}
		defer e.Close()
		envs = append(envs, e)
	}
	res.ActionsPerS4, err = throughput(ctx, envs, cfg.Duration)
	if err != nil {
		return res, err
	}
	st4, err := s.Browser().Stats(ctx)
	if err != nil {
		return res, err
	}
	res.MiBPerEnv = (st4.RSSMiB - st1.RSSMiB) / 3
	res.ProcessRSSMiB = browser.SelfRSSMiB()
	return res, nil
}

// benchEnv toggles the first checkbox of its page: a step that changes
// the DOM and never ends the episode. Its moving steps click the first two
// clickable elements in turn.
type benchEnv struct {
	gym.Env
	action string
	clicks []string
}

func (b *benchEnv) reset(ctx context.Context, seed int64) error {
	obs, err := b.Reset(ctx, gym.ResetOptions{Seed: seed})
	if err != nil {
		return err
	}
	b.action, b.clicks = "noop()", nil
	for _, a := range obs.ValidActions {
		if len(a) > 6 && (a[:6] == "check(" || a[:6] == "click(") {
			b.clicks = append(b.clicks, "click("+a[6:])
		}
	}
	if len(b.clicks) > 0 {
		b.action = b.clicks[0]
	}
	return nil
}

// stepMoving is step i of a run that clicks the first two clickable
// elements in turn.
func (b *benchEnv) stepMoving(ctx context.Context, i int) (time.Duration, error) {
	a := b.action
	if len(b.clicks) > 1 {
		a = b.clicks[i%2]
	}
	return b.do(ctx, a)
}

func (b *benchEnv) step(ctx context.Context) (time.Duration, error) {
	return b.do(ctx, b.action)
}

func (b *benchEnv) do(ctx context.Context, action string) (time.Duration, error) {
	t0 := time.Now()
	r, err := b.Step(ctx, action)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if r.Status != gym.StatusOK {
		return d, fmt.Errorf("bench step %s: %s", action, r.Status)
	}
	if r.Done() {
		return d, b.reset(ctx, 0)
	}
	return d, nil
}

func throughput(ctx context.Context, envs []*benchEnv, d time.Duration) (float64, error) {
	var wg sync.WaitGroup
	counts := make([]int, len(envs))
	errs := make([]error, len(envs))
	start := time.Now()
	for i, e := range envs {
		wg.Go(func() {
			for time.Since(start) < d {
				if _, err := e.step(ctx); err != nil {
					errs[i] = err
					return
				}
				counts[i]++
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	n := 0
	for i := range counts {
		if errs[i] != nil {
			return 0, errs[i]
		}
		n += counts[i]
	}
	return float64(n) / el, nil
}

func quantileMs(ds []time.Duration, q float64) float64 {
	return float64(stats.Percentile(ds, q*100).Microseconds()) / 1000
}
