package trainer

import (
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func logOf(p float64) float64 { return math.Log(max(p, 1e-12)) }

// GAE computes generalised advantage estimates and returns for one
// episode that ends at its last step (no bootstrap after it).
func GAE(rewards, values []float64, gamma, lambda float64) (adv, ret []float64) {
	n := len(rewards)
	adv, ret = make([]float64, n), make([]float64, n)
	next, acc := 0.0, 0.0
	for t := n - 1; t >= 0; t-- {
		delta := rewards[t] + gamma*next - values[t]
		acc = delta + gamma*lambda*acc
		adv[t] = acc
		ret[t] = acc + values[t]
		next = values[t]
	}
	return adv, ret
}

// GroupAdvantages normalises episode returns within a group (GRPO):
// (r - mean) / (sd + 1e-6); all zeros when the group has no spread.
func GroupAdvantages(returns []float64) []float64 {
	n := float64(len(returns))
	mean, sd := 0.0, 0.0
	for _, r := range returns {
		mean += r / n
	}
	for _, r := range returns {
		sd += (r - mean) * (r - mean) / n
	}
	sd = math.Sqrt(sd)
	out := make([]float64, len(returns))
	for i, r := range returns {
		out[i] = (r - mean) / (sd + 1e-6)
	}
	return out
}

// trainItem is one step with its advantage and return target.
type trainItem struct {
	s            Sample
	act          int
	oldLogp, adv float64
	ret          float64
}

// ppoLoss is the clipped surrogate plus value and entropy terms, averaged.
func (p *Policy) ppoLoss(items []trainItem, clip, vcoef, ecoef float64, useValue bool) *ts.Tensor {
	batch := make([]Sample, len(items))
	acts, old, adv, ret := make([]int64, len(items)), make([]float32, len(items)), make([]float32, len(items)), make([]float32, len(items))
	for i, it := range items {
		batch[i], acts[i], old[i], adv[i], ret[i] = it.s, int64(it.act), float32(it.oldLogp), float32(it.adv), float32(it.ret)
	}
	dev := p.Device
	logp, value := p.Forward(batch)
	actT := ts.MustOfSlice(acts).MustView([]int64{-1, 1}, true).MustTo(dev, true)
	lp := logp.MustGather(1, actT, false, false).MustView([]int64{-1}, true)
	ratio := lp.MustSub(ts.MustOfSlice(old).MustTo(dev, true), true).MustExp(true)
	advT := ts.MustOfSlice(adv).MustTo(dev, true)
	s1 := ratio.MustMul(advT, false)
	s2 := ratio.MustClamp(ts.FloatScalar(1-clip), ts.FloatScalar(1+clip), true).MustMul(advT, true)
	loss := s1.MustMinimum(s2, true).MustMean(gotch.Float, true).MustNeg(true)
	ent := logp.MustExp(false).MustMul(logp, true).MustSumDimIntlist([]int64{1}, false, gotch.Float, true).MustMean(gotch.Float, true)
	loss = loss.MustAdd(ent.MustMulScalar(ts.FloatScalar(ecoef), true), true)
	if useValue {
		vl := value.MustMseLoss(ts.MustOfSlice(ret).MustTo(dev, true), 1, true)
		loss = loss.MustAdd(vl.MustMulScalar(ts.FloatScalar(vcoef), true), true)
	}
	return loss
}

// update runs epochs of minibatch steps of the PPO/GRPO loss.
func (p *Policy) update(opt *nn.Optimizer, items []trainItem, epochs, mb int, clip, vcoef, ecoef float64, useValue bool, rng *rand.Rand) (float64, error) {
	last := 0.0
	for range epochs {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		for s := 0; s < len(items); s += mb {
			loss := p.ppoLoss(items[s:min(s+mb, len(items))], clip, vcoef, ecoef, useValue)
			if err := opt.BackwardStepClip(loss, 1.0); err != nil {
				return 0, err
			}
			last = loss.Float64Values(true)[0]
		}
	}
	return last, nil
}

// normalise scales advantages to zero mean and unit sd.
func normalise(items []trainItem) {
	if len(items) < 2 {
		return
	}
	a := make([]float64, len(items))
	for i, it := range items {
		a[i] = it.adv
	}
	g := GroupAdvantages(a)
	for i := range items {
		items[i].adv = g[i]
	}
}
