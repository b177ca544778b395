package experiment

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Outcomes are an arm's evaluation results: Outcomes[s][e] is the
// success (1/0) of evaluation episode e of the policy trained with seed s.
// Seeds are the unit of replication (each trains its own policy);
// episodes measure each policy with sampling noise.
type Outcomes [][]float64

// Mean is the mean over seeds of each seed's mean.
func (o Outcomes) Mean() float64 {
	if len(o) == 0 {
		return 0
	}
	m := 0.0
	for _, s := range o {
		m += mean(s) / float64(len(o))
	}
	return m
}

// SE is the standard error of Mean: the standard deviation of the seed
// means over √seeds, or with one seed, of its episodes over √episodes
// (then it covers evaluation noise only, not training noise).
func (o Outcomes) SE() float64 {
	switch len(o) {
	case 0:
		return 0
	case 1:
		return sd(o[0]) / math.Sqrt(float64(max(len(o[0]), 1)))
	}
	ms := make([]float64, len(o))
	for i, s := range o {
		ms[i] = mean(s)
	}
	return sd(ms) / math.Sqrt(float64(len(ms)))
}

// Bootstrap draws resamples of a statistic of paired arms by a two-level
// bootstrap: seeds with replacement (the same seed indices for every arm,
// since the arms of a seed share its warm start), then each drawn seed's
// episodes with replacement, per arm. It returns the statistic's 2.5 and
// 97.5 percentiles: a 95 % confidence interval. The generator is seeded,
// so the interval is reproducible.
func Bootstrap(arms []Outcomes, resamples int, seed uint64, stat func(means []float64) float64) [2]float64 {
	if len(arms) == 0 || len(arms[0]) == 0 || resamples <= 0 {
		return [2]float64{}
	}
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	n := len(arms[0])
	draws := make([]float64, resamples)
	means := make([]float64, len(arms))
	for r := range draws {
		clear(means)
		for range n {
			s := rng.IntN(n)
			for a, arm := range arms {
				eps := arm[s]
				m := 0.0
				for range eps {
					m += eps[rng.IntN(len(eps))]
				}
				if len(eps) > 0 {
					means[a] += m / float64(len(eps)) / float64(n)
				}
			}
		}
		draws[r] = stat(means)
	}
	slices.Sort(draws)
	at := func(q float64) float64 { return draws[min(int(q*float64(resamples)), resamples-1)] }
	return [2]float64{at(0.025), at(0.975)}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := 0.0
	for _, x := range xs {
		m += x
	}
	return m / float64(len(xs))
}

// sd is the sample standard deviation (0 for fewer than two values).
func sd(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m, v := mean(xs), 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return math.Sqrt(v / float64(len(xs)-1))
}
