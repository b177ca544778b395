package worldmodel

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/torch"
)

// TrainConfig is one training run. Zero fields take defaults.
type TrainConfig struct {
	Spec      gym.Spec // the real env's spec (id, tasks, limits); Spec.ID defaults to the data's env id
	Epochs    int      // passes over the buffer (default 12)
	Batch     int      // transitions per step (default 32)
	Hidden    int      // default 128
	Embed     int      // default 64
	LR        float64  // Adam (default 2e-3)
	Seed      int64    // seeds libtorch and the shuffles
	Threads   int      // libtorch threads (default 1)
	Progress  func(epoch int, loss, candAcc float64)
	Collected bool // informational: the buffer came from Collect
}

// example is one training transition, prepared.
type example struct {
	trans  sparse
	cands  []sparse
	priors [][nPrior]float32
	goal   [nGoal]float32
	label  int // the candidate closest to the real next observation
	reward int
	term   bool
	status gym.Status
}

// Train fits a Model on buf, on a locked OS thread (libtorch's grad mode
// and gotch's last error are per thread). Candidates of a transition are
// built without its own episode, as they will be for unseen episodes.
func Train(ctx context.Context, buf *Buffer, cfg TrainConfig) (*Model, error) {
	if buf == nil || buf.Len() == 0 {
		return nil, ErrNoData
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Epochs, 12)
	def(&cfg.Batch, 32)
	def(&cfg.Hidden, 128)
	def(&cfg.Embed, 64)
	def(&cfg.Threads, 1) // small matrices: OpenMP barriers cost more than they save on a busy machine
	if cfg.LR <= 0 {
		cfg.LR = 2e-3
	}
	var m *Model
	err := torch.OnThread("worldmodel", func() (err error) {
		m, err = train(ctx, buf, cfg)
		return err
	})
	return m, err
}

func prepare(buf *Buffer, values []float64) []example {
	exs := make([]example, buf.Len())
	for i, s := range buf.Steps {
		of, af := buf.obsF[i], buf.actF[i]
		q := query{ret: buf.retF[i], act: af, pool: poolKey(s.Obs, s.Action), exact: exactKey(stripKeys(s.Obs, buf.epKeys), s.Action)}
		cs, _ := buf.candidates(s.Obs, s.ValidActions, q, s.Action, s.EpisodeID)
		ex := example{trans: transInput(of, af), reward: rewardClass(values, s.Reward), term: s.Terminated, status: s.Status,
			goal: buf.goalFeatures(s.Obs)}
		bestF1 := -1.0
		for j, c := range cs {
			var cf sparse
			switch {
			case c.step >= 0:
				cf = buf.nextF[c.step]
			case c.source == "copy":
				cf = of
			default:
				cf = featurize("o", c.text)
			}
			ex.cands = append(ex.cands, candInput(cf, of))
			ex.priors = append(ex.priors, c.prior())
			f := tokenF1(c.text, s.NextObs)
			if c.text == s.NextObs {
				f = 2
			}
			if f > bestF1 {
				bestF1, ex.label = f, j
			}
		}
		exs[i] = ex
	}
	return exs
}

func dense(rows []sparse) *ts.Tensor {
	x := make([]float32, len(rows)*inDim)
	for r, v := range rows {
		for k, i := range v.idx {
			x[r*inDim+int(i)] += v.val[k]
		}
	}
	return ts.MustOfSlice(x).MustView([]int64{int64(len(rows)), inDim}, true)
}

func normRows(z *ts.Tensor) *ts.Tensor {
	n := z.MustMul(z, false).MustSumDimIntlist([]int64{-1}, true, gotch.Float, true).MustSqrt(true).MustClampMin(ts.FloatScalar(1e-6), true)
	return z.MustDiv(n, true)
}

func train(ctx context.Context, buf *Buffer, cfg TrainConfig) (*Model, error) {
	dev, err := torch.Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("worldmodel: %w", err)
	}
	values := rewardValues(buf.Steps)
	exs := prepare(buf, values)
	H, E, C := int64(cfg.Hidden), int64(cfg.Embed), int64(len(values))
	vs := nn.NewVarStore(dev)
	root := vs.Root()
	lc := nn.DefaultLinearConfig()
	f1 := nn.NewLinear(root.Sub("f1"), inDim, H, lc)
	f2 := nn.NewLinear(root.Sub("f2"), H, E, lc)
	g1 := nn.NewLinear(root.Sub("g1"), inDim, H, lc)
	g2 := nn.NewLinear(root.Sub("g2"), H, E, lc)
	rh := nn.NewLinear(root.Sub("r"), H, C, lc)
	th := nn.NewLinear(root.Sub("t"), H, 1, lc)
	sh := nn.NewLinear(root.Sub("s"), H, 5, lc)
	rg := nn.NewLinear(root.Sub("rg"), int64(nGoal), C, &nn.LinearConfig{WsInit: nn.NewConstInit(0), Bias: false})
	ph := nn.NewLinear(root.Sub("p"), int64(nPrior), 1, &nn.LinearConfig{WsInit: nn.NewConstInit(0), Bias: false})
	opt, err := nn.DefaultAdamConfig().Build(vs, cfg.LR)
	if err != nil {
		return nil, fmt.Errorf("worldmodel: optimizer: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x3d))
	order := make([]int, len(exs))
	for i := range order {
		order[i] = i
	}
	var lastLoss, lastAcc float64
	for ep := range cfg.Epochs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("worldmodel: train: %w", err)
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sumLoss float64
		var hits, seen int
		for s := 0; s < len(order); s += cfg.Batch {
			idx := order[s:min(s+cfg.Batch, len(order))]
			B := int64(len(idx))
			trans := make([]sparse, B)
			cands := make([]sparse, 0, int(B)*maxCands)
			mask := make([]float32, int(B)*maxCands)
			pri := make([]float32, int(B)*maxCands*nPrior)
			labels, rw, st := make([]int64, B), make([]int64, B), make([]int64, B)
			tm := make([]float32, B)
			gl := make([]float32, int(B)*nGoal)
			for b, i := range idx {
				ex := exs[i]
				trans[b] = ex.trans
				for k := range maxCands {
					if k < len(ex.cands) {
						cands = append(cands, ex.cands[k])
						copy(pri[(b*maxCands+k)*nPrior:], ex.priors[k][:])
					} else {
						cands = append(cands, sparse{})
						mask[b*maxCands+k] = -1e9
					}
				}
				labels[b], rw[b], st[b] = int64(ex.label), int64(ex.reward), int64(ex.status)
				copy(gl[b*nGoal:], ex.goal[:])
				if ex.term {
					tm[b] = 1
				}
			}
			xt := dense(trans).MustTo(dev, true)
			xc := dense(cands).MustTo(dev, true)
			h := f1.Forward(xt).MustTanh(true)
			zf := normRows(f2.Forward(h))
			zg := normRows(g2.Forward(g1.Forward(xc).MustTanh(true))).MustView([]int64{B, maxCands, E}, true)
			sc := zg.MustBmm(zf.MustView([]int64{B, E, 1}, false), true).MustView([]int64{B, maxCands}, true).
				MustMulScalar(ts.FloatScalar(scoreScale), true)
			pT := ts.MustOfSlice(pri).MustView([]int64{B * maxCands, int64(nPrior)}, true).MustTo(dev, true)
			sc = sc.MustAdd(ph.Forward(pT).MustView([]int64{B, maxCands}, true), true)
			pT.MustDrop()
			mT := ts.MustOfSlice(mask).MustView([]int64{B, maxCands}, true).MustTo(dev, true)
			logits := sc.MustAdd(mT, true)
			mT.MustDrop()
			lT := ts.MustOfSlice(labels).MustView([]int64{B, 1}, true).MustTo(dev, true)
			lp := logits.MustLogSoftmax(1, gotch.Float, false)
			lossC := lp.MustGather(1, lT, false, true).MustMean(gotch.Float, true).MustNeg(true)
			pick := logits.MustArgmax([]int64{1}, false, true).MustTo(gotch.CPU, true).Int64Values(true)
			for b := range pick {
				if pick[b] == labels[b] {
					hits++
				}
			}
			seen += int(B)
			lT.MustDrop()
			ce := func(logits *ts.Tensor, y []int64) *ts.Tensor {
				yT := ts.MustOfSlice(y).MustView([]int64{-1, 1}, true).MustTo(dev, true)
				l := logits.MustLogSoftmax(1, gotch.Float, true).MustGather(1, yT, false, true).MustMean(gotch.Float, true).MustNeg(true)
				yT.MustDrop()
				return l
			}
			gT := ts.MustOfSlice(gl).MustView([]int64{B, int64(nGoal)}, true).MustTo(dev, true)
			lossR := ce(rh.Forward(h).MustAdd(rg.Forward(gT), true), rw)
			gT.MustDrop()
			lossS := ce(sh.Forward(h), st)
			tT := ts.MustOfSlice(tm).MustView([]int64{-1, 1}, true).MustTo(dev, true)
			tl := th.Forward(h)
			// BCE with logits: softplus(x) − y·x.
			lossT := tl.MustSoftplus(false).MustSub(tl.MustMul(tT, false), true).MustMean(gotch.Float, true)
			tl.MustDrop()
			tT.MustDrop()
			loss := lossC.MustAdd(lossR, true).MustAdd(lossS, true).MustAdd(lossT, true)
			lossR.MustDrop()
			lossS.MustDrop()
			lossT.MustDrop()
			if err := opt.BackwardStep(loss); err != nil {
				return nil, fmt.Errorf("worldmodel: train step: %w", err)
			}
			sumLoss += loss.Float64Values()[0] * float64(B)
			loss.MustDrop()
			h.MustDrop()
			zf.MustDrop()
			xt.MustDrop()
			xc.MustDrop()
		}
		lastLoss, lastAcc = sumLoss/float64(len(order)), float64(hits)/float64(max(seen, 1))
		if cfg.Progress != nil {
			cfg.Progress(ep, lastLoss, lastAcc)
		}
	}
	m := &Model{Buf: buf}
	// Linear.Ws is the transposed view [in, out]; weights are [out][in].
	get := func(t *ts.Tensor) []float32 {
		if t.Dim() == 2 {
			t = t.MustT(false).MustContiguous(true)
		}
		v := t.MustTo(gotch.CPU, false).Float64Values(true)
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	m.w = weights{
		F1: get(f1.Ws), Fb1: get(f1.Bs), F2: get(f2.Ws), Fb2: get(f2.Bs),
		G1: get(g1.Ws), Gb1: get(g1.Bs), G2: get(g2.Ws), Gb2: get(g2.Bs),
		R: get(rh.Ws), Rb: get(rh.Bs), T: get(th.Ws), Tb: get(th.Bs), S: get(sh.Ws), Sb: get(sh.Bs),
		P: get(ph.Ws), RG: get(rg.Ws),
	}
	m.Meta = Meta{
		EnvID: cfg.Spec.ID, Spec: cfg.Spec, RewardValues: values, MaxSteps: maxStepsOf(buf),
		Hidden: cfg.Hidden, Embed: cfg.Embed, Transitions: buf.Len(), TrainLoss: lastLoss, TrainCandAcc: lastAcc,
	}
	if m.Meta.EnvID == "" && buf.Len() > 0 {
		m.Meta.EnvID = buf.Steps[0].EnvID
		m.Meta.Spec.ID = m.Meta.EnvID
	}
	m.Meta.EnvVersion = m.Meta.Spec.Version
	if math.IsNaN(lastLoss) {
		return nil, fmt.Errorf("worldmodel: training diverged (loss NaN)")
	}
	m.inference() // encode the buffer's candidates once, now
	return m, nil
}

// maxStepsOf is, per task, the longest episode that was truncated.
func maxStepsOf(buf *Buffer) map[string]int {
	out := map[string]int{}
	for _, s := range buf.Steps {
		if s.Truncated {
			out[s.TaskID] = max(out[s.TaskID], s.Step+1)
		}
	}
	return out
}
