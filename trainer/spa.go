package trainer

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Progress is the SPA progress estimator: a small net over a step's
// observation and chosen action giving its contribution c_t, trained so
// that Σ_t c_t over an episode matches the episode's final outcome.
type Progress struct {
	dev    gotch.Device
	vs     *nn.VarStore
	enc    *obsEncoder
	act    *nn.Linear
	l1, l2 *nn.Linear
	opt    *nn.Optimizer
}

// NewProgress builds an estimator over tok's vocabulary.
func NewProgress(tok *Tokenizer, embed, hidden int, lr float64, dev gotch.Device) (*Progress, error) {
	vs := nn.NewVarStore(dev)
	root := vs.Root()
	e, h := int64(embed), int64(hidden)
	p := &Progress{dev: dev, vs: vs,
		enc: newObsEncoder(root, int64(tok.Size()), e, h, dev),
		act: linear(root.Sub("act"), e, h, 1),
		l1:  linear(root.Sub("l1"), 2*h, h, 1),
		l2:  linear(root.Sub("l2"), h, 1, 1),
	}
	opt, err := nn.DefaultAdamConfig().Build(vs, lr)
	if err != nil {
		return nil, err
	}
	p.opt = opt
	return p, nil
}

func (p *Progress) contrib(obs [][][]int64, act [][]int64) *ts.Tensor {
	a := p.act.Forward(pool(p.enc.emb, act, p.dev)).MustTanh(true)
	x := ts.MustCat([]*ts.Tensor{p.enc.encode(obs), a}, 1)
	return p.l2.Forward(p.l1.Forward(x).MustTanh(true)).MustView([]int64{-1}, true)
}

func flatten(eps []episode) (obs [][][]int64, act [][]int64, owner []int64, target []float32) {
	for i, e := range eps {
		for _, s := range e.steps {
			obs = append(obs, s.sample.Lines)
			act = append(act, s.sample.Cands[s.act])
			owner = append(owner, int64(i))
		}
		target = append(target, float32(e.outcome()))
	}
	return obs, act, owner, target
}

// Fit takes gradient steps on MSE(Σ_t c_t, outcome) over eps and returns
// the last sum-MSE.
func (p *Progress) Fit(eps []episode, steps int) (float64, error) {
	if len(eps) == 0 {
		return 0, nil
	}
	obs, act, owner, target := flatten(eps)
	ownT := ts.MustOfSlice(owner).MustTo(p.dev, true)
	tgt := ts.MustOfSlice(target).MustTo(p.dev, true)
	mse := 0.0
	for range steps {
		c := p.contrib(obs, act)
		sums := ts.MustZeros([]int64{int64(len(eps))}, gotch.Float, p.dev).MustIndexAdd(0, ownT, c, true)
		loss := sums.MustMseLoss(tgt, 1, true)
		if err := p.opt.BackwardStep(loss); err != nil {
			return 0, err
		}
		mse = loss.Float64Values(true)[0]
	}
	return mse, nil
}

// Contributions gives c_t for every step of every episode.
func (p *Progress) Contributions(eps []episode) [][]float64 {
	obs, act, _, _ := flatten(eps)
	out := make([][]float64, len(eps))
	if len(obs) == 0 {
		return out
	}
	var flat []float64
	ts.NoGrad(func() {
		flat = p.contrib(obs, act).MustTo(gotch.CPU, true).Float64Values(true)
	})
	k := 0
	for i, e := range eps {
		out[i] = flat[k : k+len(e.steps)]
		k += len(e.steps)
	}
	return out
}
