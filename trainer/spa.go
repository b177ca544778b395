package trainer

import (
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Progress is the SPA progress estimator: a small net over a step's
// observation and chosen action giving its contribution c_t, trained so
// that Σ_t c_t over an episode matches the episode's final outcome.
//
// It keeps a bounded FIFO buffer of recent episodes (Add) and is fitted a
// fixed number of minibatch gradient steps at a time (Train), warm-started
// from wherever the previous call left it: the cost per training iteration
// does not grow with the buffer. (The first version refitted with 20
// full-batch passes over up to 512 episodes, ~15k steps, every iteration,
// which cost far more than the PPO update.)
type Progress struct {
	dev    gotch.Device
	vs     *nn.VarStore
	enc    *obsEncoder
	act    *nn.Linear
	l1, l2 *nn.Linear
	opt    *nn.Optimizer

	buf  []episode // the most recent episodes, oldest first
	cap  int
	rng  *rand.Rand
	perm []int
}

// NewProgress builds an estimator over tok's vocabulary with a buffer of
// 256 episodes (SetBuffer changes it).
func NewProgress(tok *Tokenizer, embed, hidden int, lr float64, dev gotch.Device) (*Progress, error) {
	vs := nn.NewVarStore(dev)
	root := vs.Root()
	e, h := int64(embed), int64(hidden)
	p := &Progress{dev: dev, vs: vs,
		enc: newObsEncoder(root, int64(tok.Size()), e, h, dev),
		act: linear(root.Sub("act"), e, h, 1),
		l1:  linear(root.Sub("l1"), 2*h, h, 1),
		l2:  linear(root.Sub("l2"), h, 1, 0.01), // c_t ≈ 0 untrained: sums over 50 steps start near 0, not at ±several
		cap: 256,
		rng: rand.New(rand.NewPCG(1, 0x5fa)),
	}
	opt, err := nn.DefaultAdamConfig().Build(vs, lr)
	if err != nil {
		return nil, err
	}
	p.opt = opt
	return p, nil
}

// SetBuffer sets the buffer's capacity in episodes and seeds the
// minibatch sampling.
func (p *Progress) SetBuffer(episodes int, seed int64) {
	p.cap = max(episodes, 1)
	p.rng = rand.New(rand.NewPCG(uint64(seed), 0x5fa))
	if len(p.buf) > p.cap {
		p.buf = append([]episode(nil), p.buf[len(p.buf)-p.cap:]...)
	}
}

// Buffered is the number of episodes in the buffer.
func (p *Progress) Buffered() int { return len(p.buf) }

// Add appends eps to the buffer, dropping the oldest beyond its capacity.
func (p *Progress) Add(eps []episode) {
	p.buf = append(p.buf, eps...)
	if len(p.buf) > p.cap {
		p.buf = append([]episode(nil), p.buf[len(p.buf)-p.cap:]...)
	}
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

// step takes one gradient step on MSE(Σ_t c_t, outcome) over eps and
// returns the sum-MSE before the step.
func (p *Progress) step(eps []episode) (float64, error) {
	obs, act, owner, target := flatten(eps)
	if len(obs) == 0 {
		return 0, nil
	}
	ownT := ts.MustOfSlice(owner).MustTo(p.dev, true)
	tgt := ts.MustOfSlice(target).MustTo(p.dev, true)
	c := p.contrib(obs, act)
	sums := ts.MustZeros([]int64{int64(len(eps))}, gotch.Float, p.dev).MustIndexAdd(0, ownT, c, true)
	loss := sums.MustMseLoss(tgt, 1, true)
	mse := loss.Float64Values(false)[0]
	if err := p.opt.BackwardStep(loss); err != nil {
		return 0, err
	}
	return mse, nil
}

// Train takes steps minibatch gradient steps, each on batch episodes drawn
// from the buffer without replacement (reshuffled when a pass ends), and
// returns the mean sum-MSE of its minibatches (each measured before its
// step).
func (p *Progress) Train(steps, batch int) (float64, error) {
	if len(p.buf) == 0 || steps <= 0 {
		return 0, nil
	}
	batch = max(1, min(batch, len(p.buf)))
	sum := 0.0
	mb := make([]episode, 0, batch)
	for range steps {
		mb = mb[:0]
		for range batch {
			if len(p.perm) == 0 {
				p.perm = p.rng.Perm(len(p.buf))
			}
			i := p.perm[len(p.perm)-1]
			p.perm = p.perm[:len(p.perm)-1]
			if i < len(p.buf) {
				mb = append(mb, p.buf[i])
			}
		}
		mse, err := p.step(mb)
		if err != nil {
			return 0, err
		}
		sum += mse
	}
	p.perm = p.perm[:0] // the buffer changes before the next call
	return sum / float64(steps), nil
}

// SumMSE is the mean over eps of (Σ_t c_t - outcome)², without gradients.
func (p *Progress) SumMSE(eps []episode) float64 {
	if len(eps) == 0 {
		return 0
	}
	se := 0.0
	for i, c := range p.Contributions(eps) {
		s := 0.0
		for _, x := range c {
			s += x
		}
		d := s - eps[i].outcome()
		se += d * d
	}
	return se / float64(len(eps))
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
