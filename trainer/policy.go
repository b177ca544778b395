package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// PolicyConfig sizes the policy network.
type PolicyConfig struct {
	Embed  int `json:"embed"`
	Hidden int `json:"hidden"`
}

// Sample is one decision: the observation's tokens and the candidates'.
type Sample struct {
	Obs   []int64
	Cands [][]int64
}

// Policy embeds the observation (mean-pooled token embeddings, then an
// MLP) and each candidate action the same way, and scores every pair
// with an MLP over [h, a, h*a]; a softmax over a step's candidates is the
// action distribution. A value head reads the observation embedding.
type Policy struct {
	Tok    *Tokenizer
	Config PolicyConfig
	Device gotch.Device

	vs         *nn.VarStore
	emb        *nn.Embedding
	obs1, act1 *nn.Linear
	s1, s2     *nn.Linear
	v1, v2     *nn.Linear
}

// NewPolicy builds an untrained policy on dev (libtorch must be seeded
// before, for reproducible weights).
func NewPolicy(tok *Tokenizer, cfg PolicyConfig, dev gotch.Device) *Policy {
	vs := nn.NewVarStore(dev)
	p := &Policy{Tok: tok, Config: cfg, Device: dev, vs: vs}
	root := vs.Root()
	e, h := int64(cfg.Embed), int64(cfg.Hidden)
	ec := nn.DefaultEmbeddingConfig()
	ec.WsInit = nn.NewRandnInit(0, 0.1)
	p.emb = nn.NewEmbedding(root.Sub("emb"), int64(tok.Size()), e, ec)
	lc := nn.DefaultLinearConfig()
	p.obs1 = nn.NewLinear(root.Sub("obs1"), e, h, lc)
	p.act1 = nn.NewLinear(root.Sub("act1"), e, h, lc)
	p.s1 = nn.NewLinear(root.Sub("s1"), 3*h, h, lc)
	p.s2 = nn.NewLinear(root.Sub("s2"), h, 1, lc)
	p.v1 = nn.NewLinear(root.Sub("v1"), h, h, lc)
	p.v2 = nn.NewLinear(root.Sub("v2"), h, 1, lc)
	return p
}

// pool mean-pools the embeddings of token lists: [len(seqs), Embed].
func pool(emb *nn.Embedding, seqs [][]int64, dev gotch.Device) *ts.Tensor {
	l := 1
	for _, s := range seqs {
		l = max(l, len(s))
	}
	ids := make([]int64, len(seqs)*l)
	mask := make([]float32, len(seqs)*l)
	for i, s := range seqs {
		for j, id := range s {
			ids[i*l+j] = id
			mask[i*l+j] = 1
		}
	}
	n, L := int64(len(seqs)), int64(l)
	idT := ts.MustOfSlice(ids).MustView([]int64{n, L}, true).MustTo(dev, true)
	mT := ts.MustOfSlice(mask).MustView([]int64{n, L, 1}, true).MustTo(dev, true)
	x := emb.Forward(idT).MustMul(mT, true)
	sum := x.MustSumDimIntlist([]int64{1}, false, gotch.Float, true)
	cnt := mT.MustSumDimIntlist([]int64{1}, false, gotch.Float, true).MustClampMin(ts.FloatScalar(1), true)
	return sum.MustDiv(cnt, true)
}

// Forward gives log-probabilities [B, Kmax] (padding at -1e9 before the
// softmax, so it gets no mass) and values [B].
func (p *Policy) Forward(batch []Sample) (logp, value *ts.Tensor) {
	obs := make([][]int64, len(batch))
	var cands [][]int64
	var owner []int64
	kmax := 1
	for i, s := range batch {
		obs[i] = s.Obs
		kmax = max(kmax, len(s.Cands))
		for _, c := range s.Cands {
			cands = append(cands, c)
			owner = append(owner, int64(i))
		}
	}
	h := p.obs1.Forward(pool(p.emb, obs, p.Device)).MustTanh(true)
	a := p.act1.Forward(pool(p.emb, cands, p.Device)).MustTanh(true)
	ownT := ts.MustOfSlice(owner).MustTo(p.Device, true)
	hc := h.MustIndexSelect(0, ownT, false)
	ha := hc.MustMul(a, false)
	feat := ts.MustCat([]*ts.Tensor{hc, a, ha}, 1)
	scores := p.s2.Forward(p.s1.Forward(feat).MustRelu(true)).MustView([]int64{-1}, true)
	// Pad to [B, Kmax]: index C is a -1e9 filler.
	c := int64(len(cands))
	pad := ts.MustFull([]int64{1}, ts.FloatScalar(-1e9), gotch.Float, p.Device)
	ext := ts.MustCat([]*ts.Tensor{scores, pad}, 0)
	idx := make([]int64, len(batch)*kmax)
	k := int64(0)
	for i, s := range batch {
		for j := range kmax {
			if j < len(s.Cands) {
				idx[i*kmax+j] = k
				k++
			} else {
				idx[i*kmax+j] = c
			}
		}
	}
	idxT := ts.MustOfSlice(idx).MustTo(p.Device, true)
	logits := ext.MustIndexSelect(0, idxT, true).MustView([]int64{int64(len(batch)), int64(kmax)}, true)
	logp = logits.MustLogSoftmax(1, gotch.Float, true)
	value = p.v2.Forward(p.v1.Forward(h).MustTanh(true)).MustView([]int64{-1}, true)
	return logp, value
}

// Probs returns each sample's action distribution and value, without gradients.
func (p *Policy) Probs(batch []Sample) (probs [][]float64, values []float64) {
	ts.NoGrad(func() {
		lp, v := p.Forward(batch)
		k := int(lp.MustSize()[1])
		flat := lp.MustExp(true).MustTo(gotch.CPU, true).Float64Values(true)
		values = v.MustTo(gotch.CPU, true).Float64Values(true)
		probs = make([][]float64, len(batch))
		for i, s := range batch {
			probs[i] = flat[i*k : i*k+len(s.Cands)]
		}
	})
	return probs, values
}

const (
	weightsFile   = "policy.ot"
	tokenizerFile = "tokenizer.json"
	configFile    = "policy.json"
)

// Save writes a checkpoint: weights (VarStore), tokenizer and config.
func (p *Policy) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("trainer: checkpoint dir: %w", err)
	}
	if err := p.vs.Save(filepath.Join(dir, weightsFile)); err != nil {
		return fmt.Errorf("trainer: save weights: %w", err)
	}
	if err := p.Tok.Save(filepath.Join(dir, tokenizerFile)); err != nil {
		return err
	}
	b, err := json.Marshal(p.Config)
	if err != nil {
		return fmt.Errorf("trainer: encode policy config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), b, 0o644); err != nil {
		return fmt.Errorf("trainer: save policy config: %w", err)
	}
	return nil
}

// LoadPolicy reads a checkpoint written by Save onto dev.
func LoadPolicy(dir string, dev gotch.Device) (*Policy, error) {
	tok, err := LoadTokenizer(filepath.Join(dir, tokenizerFile))
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("trainer: load policy config: %w", err)
	}
	var cfg PolicyConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("trainer: decode policy config: %w", err)
	}
	p := NewPolicy(tok, cfg, dev)
	if err := p.vs.Load(filepath.Join(dir, weightsFile)); err != nil {
		return nil, fmt.Errorf("trainer: load weights: %w", err)
	}
	return p, nil
}
