package worldmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// Bucket is the calibration of one confidence range.
type Bucket struct {
	Lo, Hi     float64 `json:"-"`
	Range      string  `json:"range"`
	N          int     `json:"n"`
	Confidence float64 `json:"mean_confidence"`
	Accuracy   float64 `json:"accuracy"` // next observation exactly right
}

// Report is the fidelity of a model on held-out transitions, and the
// speed of the dream env against the real one, measured in the same run.
type Report struct {
	EnvID        string  `json:"env_id"`
	Transitions  int     `json:"transitions"`
	Episodes     int     `json:"episodes"`
	NextObsExact float64 `json:"next_obs_exact"`
	NextObsF1    float64 `json:"next_obs_f1"`
	// The trivial baseline: the next observation is the current one.
	CopyExact float64 `json:"copy_baseline_exact"`
	CopyF1    float64 `json:"copy_baseline_f1"`
	RewardMAE float64 `json:"reward_mae"`
	RewardAcc float64 `json:"reward_acc"` // |error| < 1e-6
	// MeanRewardMAE is the baseline "always the training set's mean reward".
	MeanRewardMAE  float64        `json:"mean_reward_baseline_mae"`
	DoneAcc        float64        `json:"done_acc"` // termination
	StatusAcc      float64        `json:"status_acc"`
	ValidActAcc    float64        `json:"valid_actions_acc"` // same set as the real next state's (where recorded)
	Calibration    []Bucket       `json:"calibration"`       // by Confidence.Obs
	ConfCorrect    float64        `json:"mean_conf_correct"` // mean Confidence.Obs where the next obs was exact
	ConfWrong      float64        `json:"mean_conf_wrong"`
	Sources        map[string]int `json:"sources"`
	DreamStepsPerS float64        `json:"dream_steps_per_s"`
	RealStepsPerS  float64        `json:"real_steps_per_s"` // 0: the real env was not available
	// Speedup is dream ÷ real steps/s, both measured in this run (0 when
	// the real env was not measured).
	Speedup float64 `json:"speedup"`
	// DreamHitRate is the share of dream steps of the timing run served
	// by the prediction memo (it starts empty); DreamUncachedStepsPerS is
	// the dream's speed with the memo off: every step predicted afresh.
	DreamHitRate           float64 `json:"dream_memo_hit_rate"`
	DreamUncachedStepsPerS float64 `json:"dream_uncached_steps_per_s"`
	SpeedupUncached        float64 `json:"speedup_uncached"`
}

// JSON is the report, indented.
func (r Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("worldmodel: encode report: %w", err)
	}
	return b, nil
}

// FidelityOptions say what to measure speed on.
type FidelityOptions struct {
	Real       gym.Env // the real env, for real steps/s (nil: not measured)
	Task       string  // task to time both envs on
	SpeedSteps int     // steps to time each env (default 500)
}

// Fidelity scores m on held-out steps (episodes it was not trained on) and
// times dream steps against real ones.
func Fidelity(ctx context.Context, m *Model, heldOut []trajectory.Step, o FidelityOptions) (Report, error) {
	if len(heldOut) == 0 {
		return Report{}, ErrNoData
	}
	rep := Report{EnvID: m.Meta.EnvID, Transitions: len(heldOut), Sources: map[string]int{}}
	valid := map[string][]string{}
	eps := map[string]bool{}
	for _, s := range heldOut {
		eps[s.EpisodeID] = true
		if len(s.ValidActions) > 0 {
			valid[s.Obs] = s.ValidActions
		}
	}
	rep.Episodes = len(eps)
	var meanR float64
	for _, s := range m.Buf.Steps {
		meanR += s.Reward
	}
	meanR /= float64(max(m.Buf.Len(), 1))
	edges := []float64{0, 0.5, 0.7, 0.9, 0.99, 1.0001}
	buckets := make([]Bucket, len(edges)-1)
	for i := range buckets {
		buckets[i].Lo, buckets[i].Hi = edges[i], edges[i+1]
		buckets[i].Range = fmt.Sprintf("[%.2f,%.2f)", edges[i], math.Min(edges[i+1], 1))
	}
	var nCorrect, nWrong, nValid, validHits int
	for _, s := range heldOut {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("worldmodel: fidelity: %w", err)
		}
		p := m.Predict(s.Obs, s.ValidActions, s.Action)
		exact := p.NextObs == s.NextObs
		rep.Sources[p.Source]++
		if exact {
			rep.NextObsExact++
			rep.ConfCorrect += p.Confidence.Obs
			nCorrect++
		} else {
			rep.ConfWrong += p.Confidence.Obs
			nWrong++
		}
		rep.NextObsF1 += tokenF1(p.NextObs, s.NextObs)
		if s.NextObs == s.Obs {
			rep.CopyExact++
		}
		rep.CopyF1 += tokenF1(s.Obs, s.NextObs)
		rep.RewardMAE += math.Abs(p.Reward - s.Reward)
		rep.MeanRewardMAE += math.Abs(meanR - s.Reward)
		if math.Abs(p.Reward-s.Reward) < 1e-6 {
			rep.RewardAcc++
		}
		if p.Terminated == s.Terminated {
			rep.DoneAcc++
		}
		if p.Status == s.Status {
			rep.StatusAcc++
		}
		if v, ok := valid[s.NextObs]; ok {
			nValid++
			if slices.Equal(v, p.ValidActions) {
				validHits++
			}
		}
		for i := range buckets {
			if c := p.Confidence.Obs; c >= buckets[i].Lo && c < buckets[i].Hi {
				buckets[i].N++
				buckets[i].Confidence += c
				if exact {
					buckets[i].Accuracy++
				}
			}
		}
	}
	n := float64(len(heldOut))
	for _, v := range []*float64{&rep.NextObsExact, &rep.NextObsF1, &rep.CopyExact, &rep.CopyF1, &rep.RewardMAE,
		&rep.RewardAcc, &rep.MeanRewardMAE, &rep.DoneAcc, &rep.StatusAcc} {
		*v /= n
	}
	rep.ConfCorrect /= float64(max(nCorrect, 1))
	rep.ConfWrong /= float64(max(nWrong, 1))
	if nValid > 0 {
		rep.ValidActAcc = float64(validHits) / float64(nValid)
	}
	for _, b := range buckets {
		if b.N > 0 {
			b.Confidence /= float64(b.N)
			b.Accuracy /= float64(b.N)
			rep.Calibration = append(rep.Calibration, b)
		}
	}
	if o.SpeedSteps <= 0 {
		o.SpeedSteps = 500
	}
	dream := newEnv(m, nil, modeDream, 0)
	in := m.inference()
	in.noMemo.Store(true)
	var err error
	rep.DreamUncachedStepsPerS, err = stepsPerSecond(ctx, dream, o.Task, o.SpeedSteps)
	in.noMemo.Store(false)
	if err != nil {
		return rep, err
	}
	m.ResetCache()
	if rep.DreamStepsPerS, err = stepsPerSecond(ctx, dream, o.Task, o.SpeedSteps); err != nil {
		return rep, err
	}
	hits, misses := m.CacheStats()
	rep.DreamHitRate = float64(hits) / float64(max(hits+misses, 1))
	if o.Real != nil {
		if rep.RealStepsPerS, err = stepsPerSecond(ctx, o.Real, o.Task, o.SpeedSteps); err != nil {
			return rep, err
		}
		rep.Speedup = rep.DreamStepsPerS / rep.RealStepsPerS
		rep.SpeedupUncached = rep.DreamUncachedStepsPerS / rep.RealStepsPerS
	}
	return rep, nil
}

// stepsPerSecond plays random valid actions (resets included) for n steps.
func stepsPerSecond(ctx context.Context, env gym.Env, task string, n int) (float64, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: task})
	if err != nil {
		return 0, fmt.Errorf("worldmodel: speed reset: %w", err)
	}
	start := time.Now()
	for i := range n {
		a := "look"
		if len(obs.ValidActions) > 0 {
			a = obs.ValidActions[rng.IntN(len(obs.ValidActions))]
		}
		r, err := env.Step(ctx, a)
		if err != nil {
			return 0, fmt.Errorf("worldmodel: speed step: %w", err)
		}
		obs = r.Observation
		if r.Done() {
			if obs, err = env.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: task}); err != nil {
				return 0, fmt.Errorf("worldmodel: speed reset: %w", err)
			}
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
