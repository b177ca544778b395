package experiment

import (
	"context"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/plot"
	"github.com/envgym/envgym/trainer"
)

func TestSPAVsOutcomeReport(t *testing.T) {
	reg := gym.NewRegistry()
	if err := text.Register(reg); err != nil {
		t.Fatal(err)
	}
	c := SPAConfig{Base: trainer.Config{Registry: reg, EnvID: text.MazeID, Task: "easy", Iterations: 1, StepsPerIter: 64,
		NumEnvs: 2, EvalEpisodes: 4, BCEpisodes: 2}, Seeds: []int64{1, 2}, Resamples: 200}
	rep, err := SPAVsOutcome(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Arms) != 2 || rep.Arms[0].Reward != trainer.RewardOutcome || rep.Arms[1].Reward != trainer.RewardSPA || len(rep.Runs) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, a := range rep.Arms {
		if len(a.Success) != 2 || len(a.SuccessBefore) != 2 || a.SuccessCI95[0] > a.SuccessMean || a.SuccessCI95[1] < a.SuccessMean {
			t.Fatalf("arm %+v: the mean must lie in its interval", a)
		}
	}
	for _, r := range rep.Runs {
		if len(r.EvalWins) != 4 {
			t.Fatalf("run has %d evaluation outcomes, want 4", len(r.EvalWins))
		}
	}
	// The same warm start for both arms of a seed.
	for i := range 2 {
		if rep.Arms[0].SuccessBefore[i] != rep.Arms[1].SuccessBefore[i] {
			t.Fatalf("warm starts differ: %v vs %v", rep.Arms[0].SuccessBefore, rep.Arms[1].SuccessBefore)
		}
	}
	want := 100 * (rep.SPASuccess - rep.OutcomeSuccess)
	if math.Abs(rep.DeltaPts-want) > 1e-9 || rep.DeltaCI95[0] > rep.DeltaPts+1e-9 || rep.DeltaCI95[1] < rep.DeltaPts-1e-9 {
		t.Fatalf("delta %.2f (want %.2f) outside its interval %v", rep.DeltaPts, want, rep.DeltaCI95)
	}
	path := t.TempDir() + "/curves.png"
	if err := rep.Plot(path); err != nil {
		t.Fatal(err)
	}
	decodePNG(t, path)
}

// TestStatistics: mean, standard errors and the bootstrap on hand-made
// outcomes.
func TestStatistics(t *testing.T) {
	a := Outcomes{{1, 1, 0, 0}, {1, 1, 1, 1}} // seed means 0.5, 1
	if m := a.Mean(); m != 0.75 {
		t.Fatalf("mean %v, want 0.75", m)
	}
	// sd of (0.5, 1) = √0.125; over √2 seeds.
	if se := a.SE(); math.Abs(se-math.Sqrt(0.125)/math.Sqrt2) > 1e-12 {
		t.Fatalf("SE %v", se)
	}
	one := Outcomes{{1, 0, 1, 0}} // one seed: the episodes' SE, sd √(1/3) over √4
	if se := one.SE(); math.Abs(se-math.Sqrt(1.0/3)/2) > 1e-12 {
		t.Fatalf("one-seed SE %v", se)
	}
	// Constant outcomes: every resample gives the same difference.
	z := Outcomes{{0, 0, 0}, {0, 0, 0}}
	o := Outcomes{{1, 1, 1}, {1, 1, 1}}
	diff := func(m []float64) float64 { return m[1] - m[0] }
	if ci := Bootstrap([]Outcomes{z, o}, 500, 1, diff); ci != [2]float64{1, 1} {
		t.Fatalf("CI %v, want [1 1]", ci)
	}
	// Two arms of 10 seeds × 200 episodes with p = 0.3 and 0.5: the
	// interval of the difference covers 0.2 and excludes 0; it is
	// reproducible under its seed.
	mk := func(p float64, salt int) Outcomes {
		var out Outcomes
		for s := range 10 {
			eps := make([]float64, 200)
			for e := range eps {
				if float64((e*7919+s*104729+salt)%1000)/1000 < p {
					eps[e] = 1
				}
			}
			out = append(out, eps)
		}
		return out
	}
	lo, hi := mk(0.3, 1), mk(0.5, 2)
	ci := Bootstrap([]Outcomes{lo, hi}, 1000, 7, diff)
	if ci[0] <= 0 || ci[0] > 0.2 || ci[1] < 0.2 {
		t.Fatalf("CI %v: want it above 0 and around 0.2", ci)
	}
	if again := Bootstrap([]Outcomes{lo, hi}, 1000, 7, diff); again != ci {
		t.Fatalf("bootstrap not reproducible: %v then %v", ci, again)
	}
}

// TestSimToRealPlot: the experiment's plot is a PNG with the curves.
func TestSimToRealPlot(t *testing.T) {
	r := SimToRealReport{EnvID: "web/shop-v0", SimSuccess: 0.2, RealSuccess: 0.4, TransferRatio: 0.5, Speedup: 4,
		SimCI95: [2]float64{0.1, 0.3}, RealCI95: [2]float64{0.3, 0.5}, TransferRatioCI95: [2]float64{0.2, 0.9},
		Curves: []plot.Series{{Name: "sim seed 1", X: []float64{256, 512}, Y: []float64{0.3, 0.5}}}}
	path := t.TempDir() + "/p.png"
	if err := r.plot(path, true); err != nil {
		t.Fatal(err)
	}
	decodePNG(t, path)
}

func decodePNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("plot %s: %v %v", path, err, img)
	}
}
