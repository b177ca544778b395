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
	return GAEBootstrap(rewards, values, 0, gamma, lambda)
}

// GAEBootstrap is GAE for an episode whose last step is followed by a
// state worth bootstrap (V of the state after the last step): 0 when the
// episode terminated; V(s_T) when it was cut off by something that is not
// part of the task. (The text envs' own step limits are part of the task,
// invisible to the policy, so the trainer scores them as terminal: 0.)
func GAEBootstrap(rewards, values []float64, bootstrap, gamma, lambda float64) (adv, ret []float64) {
	n := len(rewards)
	adv, ret = make([]float64, n), make([]float64, n)
	next, acc := bootstrap, 0.0
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

// updateStats are the diagnostics of one update, averaged over the
// minibatches of its last epoch.
type updateStats struct {
	Loss      float64 // total loss
	ValueLoss float64 // MSE of the value head against the GAE returns
	Entropy   float64 // mean policy entropy (nats)
	ApproxKL  float64 // mean of old log-prob - new log-prob of the taken actions
	ClipFrac  float64 // share of steps whose ratio left [1-clip, 1+clip]
}

// ppoLoss is the clipped surrogate plus value and entropy terms, averaged,
// and its diagnostics.
func (p *Policy) ppoLoss(items []trainItem, clip, vcoef, ecoef float64, useValue bool) (*ts.Tensor, updateStats) {
	batch := make([]Sample, len(items))
	acts, old, adv, ret := make([]int64, len(items)), make([]float32, len(items)), make([]float32, len(items)), make([]float32, len(items))
	for i, it := range items {
		batch[i], acts[i], old[i], adv[i], ret[i] = it.s, int64(it.act), float32(it.oldLogp), float32(it.adv), float32(it.ret)
	}
	dev := p.Device
	logp, value := p.Forward(batch)
	actT := ts.MustOfSlice(acts).MustView([]int64{-1, 1}, true).MustTo(dev, true)
	lp := logp.MustGather(1, actT, false, false).MustView([]int64{-1}, true)
	oldT := ts.MustOfSlice(old).MustTo(dev, true)
	advT := ts.MustOfSlice(adv).MustTo(dev, true)
	loss, logRatio, ratio := clippedSurrogate(lp, oldT, advT, clip)
	negEnt := logp.MustExp(false).MustMul(logp, false).MustSumDimIntlist([]int64{1}, false, gotch.Float, true).MustMean(gotch.Float, true)
	loss = loss.MustAdd(negEnt.MustMulScalar(ts.FloatScalar(ecoef), false), true)
	var st updateStats
	if useValue {
		vl := value.MustMseLoss(ts.MustOfSlice(ret).MustTo(dev, true), 1, true)
		st.ValueLoss = vl.Float64Values(false)[0]
		loss = loss.MustAdd(vl.MustMulScalar(ts.FloatScalar(vcoef), true), true)
	}
	st.Entropy = -negEnt.Float64Values(true)[0]
	st.ApproxKL = -logRatio.MustMean(gotch.Float, true).Float64Values(true)[0]
	n := 0.0
	for _, r := range ratio.Float64Values(true) {
		if r < 1-clip || r > 1+clip {
			n++
		}
	}
	st.ClipFrac = n / float64(len(items))
	return loss, st
}

// clippedSurrogate is PPO's clipped objective as a loss to minimise:
// -mean_t min(ρ_t·A_t, clip(ρ_t, 1-ε, 1+ε)·A_t) with ρ_t = exp(lp_t - old_t).
// It also gives log ρ and ρ for the diagnostics. (A pure function of its
// tensors, so the tests check it against hand-computed values.)
func clippedSurrogate(lp, old, adv *ts.Tensor, clip float64) (loss, logRatio, ratio *ts.Tensor) {
	logRatio = lp.MustSub(old, false)
	ratio = logRatio.MustExp(false)
	s1 := ratio.MustMul(adv, false)
	s2 := ratio.MustClamp(ts.FloatScalar(1-clip), ts.FloatScalar(1+clip), false).MustMul(adv, true)
	loss = s1.MustMinimum(s2, true).MustMean(gotch.Float, true).MustNeg(true)
	return loss, logRatio, ratio
}

// update runs epochs of minibatch steps of the PPO/GRPO loss.
//
// With targetKL > 0 it stops early, after the minibatch step whose approx-KL
// (old vs current policy on that minibatch, measured before the step)
// passes 1.5·targetKL: once most samples of the batch are clipped, more
// epochs mostly move the policy on the noise of the advantages (seen on
// the tiny lamps env, where a batch of nearly all successes has
// normalised advantages that are all value-head noise).
func (p *Policy) update(opt *nn.Optimizer, items []trainItem, epochs, mb int, clip, vcoef, ecoef, targetKL float64, useValue bool, rng *rand.Rand) (updateStats, error) {
	var out updateStats
	for e := range epochs {
		stop := false
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		var sum updateStats
		n := 0.0
		for s := 0; s < len(items); s += mb {
			loss, st := p.ppoLoss(items[s:min(s+mb, len(items))], clip, vcoef, ecoef, useValue)
			st.Loss = loss.Float64Values(false)[0]
			if err := opt.BackwardStepClip(loss, 1.0); err != nil {
				return out, err
			}
			sum.Loss += st.Loss
			sum.ValueLoss += st.ValueLoss
			sum.Entropy += st.Entropy
			sum.ApproxKL += st.ApproxKL
			sum.ClipFrac += st.ClipFrac
			n++
			if targetKL > 0 && st.ApproxKL > 1.5*targetKL {
				stop = true
				break
			}
		}
		if (stop || e == epochs-1) && n > 0 {
			out = updateStats{Loss: sum.Loss / n, ValueLoss: sum.ValueLoss / n, Entropy: sum.Entropy / n,
				ApproxKL: sum.ApproxKL / n, ClipFrac: sum.ClipFrac / n}
		}
		if stop {
			break
		}
	}
	return out, nil
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
