package gui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/envgym/envgym/envs/gui/desktop"
	"github.com/envgym/envgym/envs/gui/phone"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/stats"
)

// BenchConfig sizes a benchmark run. Zero fields take defaults.
type BenchConfig struct {
	Episodes int // oracle episodes per backend; default one per task
}

// BenchResult holds p50 latencies in milliseconds. A step includes the
// action, the settle wait, the state read and the screenshot; the
// oracle's wait actions (a fixed 100 ms pause by definition) are played
// but not timed. Success is the oracle's success rate.
type BenchResult struct {
	PhoneStepP50Ms         float64 `json:"phone_step_p50_ms"`
	PhoneResetP50Ms        float64 `json:"phone_reset_p50_ms"`
	PhoneScreenshotP50Ms   float64 `json:"phone_screenshot_p50_ms"`
	DesktopStepP50Ms       float64 `json:"desktop_step_p50_ms"`
	DesktopResetP50Ms      float64 `json:"desktop_reset_p50_ms"`
	DesktopScreenshotP50Ms float64 `json:"desktop_screenshot_p50_ms"`
	PhoneSuccess           float64 `json:"phone_success"`
	DesktopSuccess         float64 `json:"desktop_success"`
	Steps                  int     `json:"steps"`
}

type benchEnv interface {
	gym.Env
	gym.Oracle
	gym.Screenshotter
}

// Bench plays oracle episodes on both backends and reports p50 step,
// reset and screenshot latencies.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	var res BenchResult
	ph, err := phone.NewSuite(phone.Options{}).New(gym.Spec{ID: "gui/phone-v0"}, nil)
	if err != nil {
		return res, err
	}
	defer ph.Close()
	step, reset, shot, succ, n, err := benchOne(ctx, ph, phone.TaskIDs(), cfg.Episodes)
	if err != nil {
		return res, fmt.Errorf("gui: bench phone: %w", err)
	}
	res.PhoneStepP50Ms, res.PhoneResetP50Ms, res.PhoneScreenshotP50Ms, res.PhoneSuccess = step, reset, shot, succ
	res.Steps += n
	dk, err := desktop.New(gym.Spec{ID: "gui/desktop-v0"}, nil)
	if err != nil {
		return res, err
	}
	defer dk.Close()
	step, reset, shot, succ, n, err = benchOne(ctx, dk, desktop.TaskIDs(), cfg.Episodes)
	if err != nil {
		return res, fmt.Errorf("gui: bench desktop: %w", err)
	}
	res.DesktopStepP50Ms, res.DesktopResetP50Ms, res.DesktopScreenshotP50Ms, res.DesktopSuccess = step, reset, shot, succ
	res.Steps += n
	return res, nil
}

func benchOne(ctx context.Context, env benchEnv, tasks []gym.Task, episodes int) (step, reset, shot, success float64, n int, err error) {
	if episodes <= 0 {
		episodes = len(tasks)
	}
	var steps, resets, shots []float64
	wins := 0
	ms := func(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
	// One warm-up reset starts the browser or X server.
	if _, err := env.Reset(ctx, gym.ResetOptions{TaskID: tasks[0].ID}); err != nil {
		return 0, 0, 0, 0, 0, err
	}
	for i := range episodes {
		t0 := time.Now()
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: tasks[i%len(tasks)].ID}); err != nil {
			return 0, 0, 0, 0, 0, err
		}
		resets = append(resets, ms(t0))
		for range 30 {
			a, err := env.OracleAction(ctx)
			if err != nil {
				return 0, 0, 0, 0, 0, err
			}
			t0 = time.Now()
			r, err := env.Step(ctx, a)
			if err != nil {
				return 0, 0, 0, 0, 0, err
			}
			if !strings.Contains(a, `"wait"`) {
				steps = append(steps, ms(t0))
			}
			if r.Done() {
				if r.Reward > 0 {
					wins++
				}
				break
			}
		}
		t0 = time.Now()
		if _, err := env.Screenshot(ctx); err != nil {
			return 0, 0, 0, 0, 0, err
		}
		shots = append(shots, ms(t0))
	}
	return p50(steps), p50(resets), p50(shots), float64(wins) / float64(episodes), len(steps), nil
}

func p50(xs []float64) float64 { return stats.Percentile(xs, 50) }
