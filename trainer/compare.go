package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"
)

// CompareConfig is the SPA-vs-outcome experiment: every arm trains from
// the same behaviour-cloned warm start of each seed, with the same
// env-step budget and hyperparameters; only Config.Reward differs.
type CompareConfig struct {
	Base  Config   // everything but Seed and Reward; BCEpisodes is the shared warm start
	Seeds []int64  // default 1, 2, 3
	Arms  []string // rewards to compare (default outcome, spa)
	// ArmDone, when set, is called after each arm of each seed.
	ArmDone func(arm string, seed int64, r Report)
}

// ArmSummary is one arm over the seeds.
type ArmSummary struct {
	Reward        string    `json:"reward"`
	SuccessBefore []float64 `json:"success_before"` // per seed, the shared warm start
	Success       []float64 `json:"success"`        // per seed, after training
	Return        []float64 `json:"return"`         // per seed, mean eval return after training
	SuccessMean   float64   `json:"success_mean"`
	SuccessSD     float64   `json:"success_sd"`
	ReturnMean    float64   `json:"return_mean"`
	ReturnSD      float64   `json:"return_sd"`
}

// CompareReport is the experiment's result.
type CompareReport struct {
	EnvID        string       `json:"env_id"`
	Task         string       `json:"task"`
	Seeds        []int64      `json:"seeds"`
	EnvSteps     int          `json:"env_steps"` // per arm and seed
	EvalEpisodes int          `json:"eval_episodes"`
	BCEpisodes   int          `json:"bc_episodes"`
	Distractors  int          `json:"distractors"` // invalid distractor candidates per step
	Arms         []ArmSummary `json:"arms"`
	// DeltaPts is 100·(mean success of Arms[1] - Arms[0]): SPA minus
	// outcome with the default arms.
	DeltaPts float64 `json:"delta_pts"`
	// OutcomeSuccess and SPASuccess are the mean held-out success of the
	// arms named "outcome" and "spa" (0 when there is no such arm).
	OutcomeSuccess float64  `json:"outcome_success"`
	SPASuccess     float64  `json:"spa_success"`
	Runs           []Report `json:"runs"` // arm-major, then seed
}

// Curves gives each arm's learning curve: training-episode success per
// iteration, averaged over the seeds, against the mean env steps so far.
func (r CompareReport) Curves() []Series {
	var out []Series
	for a, arm := range r.Arms {
		runs := r.Runs[a*len(r.Seeds) : min((a+1)*len(r.Seeds), len(r.Runs))]
		s := Series{Name: arm.Reward}
		for i := 0; ; i++ {
			var x, y float64
			n := 0
			for _, run := range runs {
				if i < len(run.Iters) {
					x += float64(run.Iters[i].EnvSteps)
					y += run.Iters[i].Success
					n++
				}
			}
			if n == 0 {
				break
			}
			s.X, s.Y = append(s.X, x/float64(n)), append(s.Y, y/float64(n))
		}
		out = append(out, s)
	}
	return out
}

// Plot writes the arms' learning curves into one PNG.
func (r CompareReport) Plot(path string) error {
	title := fmt.Sprintf("%s %s: training success, mean of %d seeds", r.EnvID, r.Task, len(r.Seeds))
	return WritePlot(path, title, "env steps", r.Curves())
}

// Compare runs the experiment on a locked OS thread.
func Compare(ctx context.Context, cc CompareConfig) (CompareReport, error) {
	var rep CompareReport
	err := OnTorchThread("trainer", func() (err error) {
		rep, err = compare(ctx, cc)
		return err
	})
	return rep, err
}

func compare(ctx context.Context, cc CompareConfig) (CompareReport, error) {
	if len(cc.Seeds) == 0 {
		cc.Seeds = []int64{1, 2, 3}
	}
	if len(cc.Arms) == 0 {
		cc.Arms = []string{"outcome", "spa"}
	}
	base, err := resolveTask(ctx, cc.Base.withDefaults())
	if err != nil {
		return CompareReport{}, err
	}
	rep := CompareReport{EnvID: base.EnvID, Task: base.Task, Seeds: cc.Seeds,
		EvalEpisodes: base.EvalEpisodes, BCEpisodes: base.BCEpisodes, Distractors: base.Distractors}
	for _, arm := range cc.Arms {
		c := base
		c.Reward = arm
		if err := c.validate(); err != nil {
			return rep, err
		}
		rep.Arms = append(rep.Arms, ArmSummary{Reward: arm})
	}
	runs := make([][]Report, len(cc.Arms))
	for _, seed := range cc.Seeds {
		cfg := base
		cfg.Seed = seed
		cfg.OutDir = ""
		w, err := prepare(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("trainer: seed %d: %w", seed, err)
		}
		w.rep.Task = cfg.Task
		for _, e := range w.envs {
			e.Close()
		}
		for a, arm := range cc.Arms {
			c := cfg
			c.Reward = arm
			// The same libtorch and sampling seeds for every arm: the arms
			// differ in the reward only.
			if err := ts.ManualSeed(seed); err != nil {
				return rep, fmt.Errorf("trainer: seed: %w", err)
			}
			pol, err := w.pol.clone()
			if err != nil {
				return rep, err
			}
			envs, err := makeEnvs(ctx, c, c.NumEnvs)
			if err != nil {
				return rep, err
			}
			r, err := learn(ctx, c, pol, envs, w.rep, w.demos)
			if err != nil {
				return rep, fmt.Errorf("trainer: seed %d, arm %s: %w", seed, arm, err)
			}
			runs[a] = append(runs[a], r)
			rep.EnvSteps = r.EnvSteps
			s := &rep.Arms[a]
			s.SuccessBefore = append(s.SuccessBefore, r.SuccessBefore)
			s.Success = append(s.Success, r.SuccessAfter)
			s.Return = append(s.Return, r.ReturnAfter)
			if cc.ArmDone != nil {
				cc.ArmDone(arm, seed, r)
			}
		}
	}
	for a := range rep.Arms {
		s := &rep.Arms[a]
		s.SuccessMean, s.SuccessSD = meanSD(s.Success)
		s.ReturnMean, s.ReturnSD = meanSD(s.Return)
		rep.Runs = append(rep.Runs, runs[a]...)
	}
	if len(rep.Arms) >= 2 {
		rep.DeltaPts = 100 * (rep.Arms[1].SuccessMean - rep.Arms[0].SuccessMean)
	}
	for _, a := range rep.Arms {
		switch a.Reward {
		case "outcome":
			rep.OutcomeSuccess = a.SuccessMean
		case "spa":
			rep.SPASuccess = a.SuccessMean
		}
	}
	return rep, nil
}

// meanSD is the mean and the sample standard deviation (0 for one value).
func meanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}
