package experiment

import (
	"context"
	"fmt"
	"math"

	"github.com/envgym/envgym/internal/plot"
	"github.com/envgym/envgym/internal/torch"
	"github.com/envgym/envgym/trainer"
)

// DefaultResamples is the number of bootstrap resamples of a confidence
// interval.
const DefaultResamples = 2000

// SPAConfig is the SPA-vs-outcome experiment: every arm trains from the
// same behaviour-cloned warm start of each seed, with the same env-step
// budget and hyper-parameters; only Config.Reward differs.
type SPAConfig struct {
	Base      trainer.Config   // everything but Seed and Reward; BCEpisodes is the shared warm start
	Seeds     []int64          // default 1, 2, 3
	Arms      []trainer.Reward // rewards to compare (default outcome, spa); the first is the baseline of the delta
	Resamples int              // bootstrap resamples (default DefaultResamples)
	// ArmDone, when set, is called after each arm of each seed.
	ArmDone func(arm trainer.Reward, seed int64, r trainer.Report)
}

// ArmSummary is one arm over the seeds.
type ArmSummary struct {
	Reward        trainer.Reward `json:"reward"`
	SuccessBefore []float64      `json:"success_before"` // per seed, the shared warm start
	Success       []float64      `json:"success"`        // per seed, after training (held-out episodes)
	Return        []float64      `json:"return"`         // per seed, mean eval return after training
	SuccessMean   float64        `json:"success_mean"`
	SuccessSE     float64        `json:"success_se"`   // standard error over seeds (over episodes with one seed)
	SuccessCI95   [2]float64     `json:"success_ci95"` // two-level bootstrap (seeds, then episodes)
	SuccessSD     float64        `json:"success_sd"`   // over seeds
	ReturnMean    float64        `json:"return_mean"`
	ReturnSD      float64        `json:"return_sd"`
	outcomes      Outcomes
}

// SPAReport is the experiment's result.
type SPAReport struct {
	EnvID        string       `json:"env_id"`
	Task         string       `json:"task"`
	Seeds        []int64      `json:"seeds"`
	EnvSteps     int          `json:"env_steps"` // per arm and seed
	EvalEpisodes int          `json:"eval_episodes"`
	BCEpisodes   int          `json:"bc_episodes"`
	Distractors  int          `json:"distractors"` // invalid distractor candidates per step
	Resamples    int          `json:"bootstrap_resamples"`
	Arms         []ArmSummary `json:"arms"`
	// DeltaPts is 100·(mean success of Arms[1] − Arms[0]): SPA minus
	// outcome with the default arms; DeltaSE its standard error and
	// DeltaCI95 its 95 % two-level bootstrap interval (paired by seed).
	DeltaPts  float64    `json:"delta_pts"`
	DeltaSE   float64    `json:"delta_se_pts"`
	DeltaCI95 [2]float64 `json:"delta_ci95"`
	// OutcomeSuccess and SPASuccess are the mean held-out success of the
	// arms named "outcome" and "spa" (0 when there is no such arm).
	OutcomeSuccess float64          `json:"outcome_success"`
	SPASuccess     float64          `json:"spa_success"`
	Device         string           `json:"device"`
	Runs           []trainer.Report `json:"runs"` // arm-major, then seed
}

// Curves gives each arm's learning curve: training-episode success per
// iteration, mean over the seeds with a 95 % normal interval over seeds
// (1.96 standard errors), against the mean env steps so far.
func (r SPAReport) Curves() []plot.Series {
	var out []plot.Series
	for a, arm := range r.Arms {
		runs := r.Runs[a*len(r.Seeds) : min((a+1)*len(r.Seeds), len(r.Runs))]
		s := plot.Series{Name: string(arm.Reward)}
		for i := 0; ; i++ {
			var x float64
			var ys []float64
			for _, run := range runs {
				if i < len(run.Iters) {
					x += float64(run.Iters[i].EnvSteps)
					ys = append(ys, run.Iters[i].Success)
				}
			}
			if len(ys) == 0 {
				break
			}
			m, half := mean(ys), 1.96*sd(ys)/math.Sqrt(float64(len(ys)))
			s.X, s.Y = append(s.X, x/float64(len(ys))), append(s.Y, m)
			s.Lo, s.Hi = append(s.Lo, m-half), append(s.Hi, m+half)
		}
		out = append(out, s)
	}
	return out
}

// Plot writes the arms' learning curves with their intervals into one PNG.
func (r SPAReport) Plot(path string) error {
	title := fmt.Sprintf("%s: training success, %d seeds, 95%% CI; held-out delta %+.1f pts (%+.1f, %+.1f)",
		r.EnvID, len(r.Seeds), r.DeltaPts, r.DeltaCI95[0], r.DeltaCI95[1])
	return plot.Write(path, title, "env steps", r.Curves())
}

// SPAVsOutcome runs the experiment on a libtorch thread.
func SPAVsOutcome(ctx context.Context, c SPAConfig) (SPAReport, error) {
	var rep SPAReport
	err := torch.OnThread("experiment", func() (err error) {
		rep, err = spaVsOutcome(ctx, c)
		return err
	})
	return rep, err
}

func spaVsOutcome(ctx context.Context, c SPAConfig) (SPAReport, error) {
	if len(c.Seeds) == 0 {
		c.Seeds = []int64{1, 2, 3}
	}
	if len(c.Arms) == 0 {
		c.Arms = []trainer.Reward{trainer.RewardOutcome, trainer.RewardSPA}
	}
	if c.Resamples <= 0 {
		c.Resamples = DefaultResamples
	}
	base, err := trainer.Resolve(ctx, c.Base)
	if err != nil {
		return SPAReport{}, err
	}
	base.OutDir = ""
	rep := SPAReport{EnvID: base.EnvID, Task: base.Task, Seeds: c.Seeds, Resamples: c.Resamples,
		EvalEpisodes: base.EvalEpisodes, BCEpisodes: base.BCEpisodes, Distractors: base.Distractors}
	for _, arm := range c.Arms {
		a := base
		a.Reward = arm
		if _, err := trainer.Resolve(ctx, a); err != nil {
			return rep, err
		}
		rep.Arms = append(rep.Arms, ArmSummary{Reward: arm})
	}
	runs := make([][]trainer.Report, len(c.Arms))
	for _, seed := range c.Seeds {
		cfg := base
		cfg.Seed = seed
		ws, err := trainer.NewWarmStart(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("experiment: seed %d: %w", seed, err)
		}
		rep.Device = ws.Report().Device
		for a, arm := range c.Arms {
			ac := cfg
			ac.Reward = arm
			r, err := ws.Train(ctx, ac)
			if err != nil {
				return rep, fmt.Errorf("experiment: seed %d, arm %s: %w", seed, arm, err)
			}
			runs[a] = append(runs[a], r)
			rep.EnvSteps = r.EnvSteps
			s := &rep.Arms[a]
			s.SuccessBefore = append(s.SuccessBefore, r.SuccessBefore)
			s.Success = append(s.Success, r.SuccessAfter)
			s.Return = append(s.Return, r.ReturnAfter)
			s.outcomes = append(s.outcomes, r.EvalWins)
			if c.ArmDone != nil {
				c.ArmDone(arm, seed, r)
			}
		}
	}
	for a := range rep.Arms {
		s := &rep.Arms[a]
		s.SuccessMean, s.SuccessSE = s.outcomes.Mean(), s.outcomes.SE()
		s.SuccessSD = sd(s.Success)
		s.SuccessCI95 = Bootstrap([]Outcomes{s.outcomes}, c.Resamples, uint64(a), func(m []float64) float64 { return m[0] })
		s.ReturnMean, s.ReturnSD = mean(s.Return), sd(s.Return)
		rep.Runs = append(rep.Runs, runs[a]...)
	}
	if len(rep.Arms) >= 2 {
		b, t := rep.Arms[0].outcomes, rep.Arms[1].outcomes
		rep.DeltaPts = 100 * (t.Mean() - b.Mean())
		rep.DeltaSE = 100 * pairedSE(b, t)
		ci := Bootstrap([]Outcomes{b, t}, c.Resamples, 0xde17a, func(m []float64) float64 { return 100 * (m[1] - m[0]) })
		rep.DeltaCI95 = ci
	}
	for _, a := range rep.Arms {
		switch a.Reward {
		case trainer.RewardOutcome:
			rep.OutcomeSuccess = a.SuccessMean
		case trainer.RewardSPA:
			rep.SPASuccess = a.SuccessMean
		}
	}
	return rep, nil
}

// pairedSE is the standard error of t's mean minus b's, paired by seed
// (the arms of a seed share its warm start); with one seed, the two arms'
// episode standard errors combined.
func pairedSE(b, t Outcomes) float64 {
	if len(b) < 2 {
		return math.Hypot(b.SE(), t.SE())
	}
	d := make([]float64, len(b))
	for i := range b {
		d[i] = mean(t[i]) - mean(b[i])
	}
	return sd(d) / math.Sqrt(float64(len(d)))
}
