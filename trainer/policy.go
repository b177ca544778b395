package trainer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// PolicyConfig sizes the policy network.
type PolicyConfig struct {
	Embed   int `json:"embed"`
	Hidden  int `json:"hidden"`
	History int `json:"history"` // previous actions the policy sees (0: none)
	// Overlap adds, per candidate, the share of its words that occur on
	// the observation's "Goal:" line (set for envs that state a goal: the
	// web envs).
	Overlap bool `json:"overlap,omitempty"`
	// GoalFeatures, when > 0, gives each candidate that many goal features
	// (goal.go: overlap, coverage, price; NumGoalFeatures at most) where
	// the env states a goal, instead of Overlap's one. On web/shop-text-v0
	// all three took BC-200 from 0.41 to 0.52 held-out success; on the
	// maze (whose goal names a row and column) they cost TestPPOLearnsMaze
	// 0.22 points, so they are not the default.
	GoalFeatures int `json:"goal_features,omitempty"`
}

// goalFeatures is the number of goal features per candidate.
func (c PolicyConfig) goalFeatures() int {
	switch {
	case c.GoalFeatures > 0 && c.Overlap:
		return min(c.GoalFeatures, NumGoalFeatures)
	case c.Overlap:
		return 1
	}
	return 0
}

// Sample is one decision: the observation's lines, the previous actions
// (most recent first, at most PolicyConfig.History) and the candidates,
// all as token ids.
type Sample struct {
	Lines [][]int64
	Hist  [][]int64
	Cands [][]int64
	Goal  [][]float32 // per candidate, its goal features (PolicyConfig.goalFeatures of them)
}

// Policy scores the candidate actions of a step.
//
// The observation is read line by line: each line's tokens (words and
// in-line bigrams) are mean-pooled and passed through a layer, and the
// line vectors are averaged. A single bag over the whole text would drown
// the few words that matter ("Exits: north (passage)") in the boilerplate
// around them. The previous actions get one slot each, in order, so the
// policy can tell "I just came from the south" apart from the rest. The
// state vector h and each candidate's vector a are scored by an MLP over
// [h, a, h*a]; a softmax over a step's candidates is the action
// distribution. A value head reads h.
type Policy struct {
	Tok    *Tokenizer
	Config PolicyConfig
	Device gotch.Device

	vs         *nn.VarStore
	enc        *obsEncoder
	hist1, mix *nn.Linear
	act1       *nn.Linear
	s1, s2     *nn.Linear
	v1, v2     *nn.Linear
}

// obsEncoder turns observation lines into one vector per sample.
type obsEncoder struct {
	emb  *nn.Embedding
	line *nn.Linear
	dev  gotch.Device
}

func newObsEncoder(root *nn.Path, vocab, embed, hidden int64, dev gotch.Device) *obsEncoder {
	ec := nn.DefaultEmbeddingConfig()
	ec.WsInit = nn.NewRandnInit(0, 1)
	return &obsEncoder{
		emb:  nn.NewEmbedding(root.Sub("emb"), vocab, embed, ec),
		line: linear(root.Sub("line"), embed, hidden, 1),
		dev:  dev,
	}
}

// encode gives [len(obs), hidden]: the mean over each sample's lines of
// tanh(W·pool(line)). Each distinct line of the batch is pooled and passed
// through the layer once (most lines, "You carry nothing." and the like,
// repeat across the steps of a batch).
func (e *obsEncoder) encode(obs [][][]int64) *ts.Tensor {
	var lines [][]int64
	owner := make([]int64, 0, 16*len(obs))
	count := make([]float32, len(obs))
	for i, ls := range obs {
		for _, l := range ls {
			lines = append(lines, l)
			owner = append(owner, int64(i))
		}
		count[i] = float32(max(len(ls), 1))
	}
	if len(lines) == 0 {
		lines, owner = [][]int64{{}}, []int64{0}
	}
	uniq, back := dedup(lines)
	v := e.line.Forward(poolAll(e.emb, uniq, e.dev)).MustTanh(true)
	if len(uniq) < len(lines) {
		v = v.MustIndexSelect(0, ts.MustOfSlice(back).MustTo(e.dev, true), true)
	}
	h := v.MustSize()[1]
	ownT := ts.MustOfSlice(owner).MustTo(e.dev, true)
	sum := ts.MustZeros([]int64{int64(len(obs)), h}, gotch.Float, e.dev).MustIndexAdd(0, ownT, v, true)
	cnt := ts.MustOfSlice(count).MustView([]int64{-1, 1}, true).MustTo(e.dev, true)
	return sum.MustDiv(cnt, true)
}

// dedup gives the distinct token lists of seqs in first-seen order and,
// for each of seqs, the index of its list among them.
func dedup(seqs [][]int64) (uniq [][]int64, back []int64) {
	seen := make(map[string]int64, len(seqs))
	back = make([]int64, len(seqs))
	key := make([]byte, 0, 64)
	for i, s := range seqs {
		key = key[:0]
		for _, id := range s {
			key = binary.AppendUvarint(key, uint64(id))
		}
		j, ok := seen[string(key)]
		if !ok {
			j = int64(len(uniq))
			seen[string(key)] = j
			uniq = append(uniq, s)
		}
		back[i] = j
	}
	return uniq, back
}

// linear is a layer with PyTorch's default initialisation scaled by gain:
// weights and bias uniform in ±gain/sqrt(in). (gotch v0.8.0's default
// "Kaiming uniform" draws weights from N(0, 1), which saturates tanh
// layers and makes an untrained policy nearly deterministic.)
func linear(path *nn.Path, in, out int64, gain float64) *nn.Linear {
	b := gain / math.Sqrt(float64(in))
	return nn.NewLinear(path, in, out, &nn.LinearConfig{
		WsInit: nn.NewUniformInit(-b, b), BsInit: nn.NewUniformInit(-b, b), Bias: true})
}

// NewPolicy builds an untrained policy on dev (libtorch must be seeded
// before, for reproducible weights).
func NewPolicy(tok *Tokenizer, cfg PolicyConfig, dev gotch.Device) *Policy {
	vs := nn.NewVarStore(dev)
	p := &Policy{Tok: tok, Config: cfg, Device: dev, vs: vs}
	root := vs.Root()
	e, h, k := int64(cfg.Embed), int64(cfg.Hidden), int64(max(cfg.History, 1))
	p.enc = newObsEncoder(root, int64(tok.Size()), e, h, dev)
	p.hist1 = linear(root.Sub("hist1"), k*e, h, 1)
	p.mix = linear(root.Sub("mix"), 2*h, h, 1)
	p.act1 = linear(root.Sub("act1"), e, h, 1)
	feat := 3*h + int64(cfg.goalFeatures())
	p.s1 = linear(root.Sub("s1"), feat, h, 1)
	p.s2 = linear(root.Sub("s2"), h, 1, 0.01) // near-uniform untrained policy
	p.v1 = linear(root.Sub("v1"), h, h, 1)
	p.v2 = linear(root.Sub("v2"), h, 1, 1)
	return p
}

// pool mean-pools the embeddings of token lists: [len(seqs), Embed]; an
// empty list gives zeros. Repeated lists are pooled once.
func pool(emb *nn.Embedding, seqs [][]int64, dev gotch.Device) *ts.Tensor {
	uniq, back := dedup(seqs)
	x := poolAll(emb, uniq, dev)
	if len(uniq) == len(seqs) {
		return x
	}
	return x.MustIndexSelect(0, ts.MustOfSlice(back).MustTo(dev, true), true)
}

// poolAll is pool without the deduplication.
func poolAll(emb *nn.Embedding, seqs [][]int64, dev gotch.Device) *ts.Tensor {
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

// state gives the state vectors h [B, Hidden].
func (p *Policy) state(batch []Sample) *ts.Tensor {
	obs := make([][][]int64, len(batch))
	k := max(p.Config.History, 1)
	hist := make([][]int64, 0, len(batch)*k)
	for i, s := range batch {
		obs[i] = s.Lines
		for j := range k {
			if j < len(s.Hist) && p.Config.History > 0 {
				hist = append(hist, s.Hist[j])
			} else {
				hist = append(hist, nil)
			}
		}
	}
	o := p.enc.encode(obs)
	hv := pool(p.enc.emb, hist, p.Device).MustView([]int64{int64(len(batch)), -1}, true)
	hh := p.hist1.Forward(hv).MustTanh(true)
	return p.mix.Forward(ts.MustCat([]*ts.Tensor{o, hh}, 1)).MustTanh(true)
}

// Forward gives log-probabilities [B, Kmax] (padding at -1e9 before the
// softmax, so it gets no mass) and values [B].
func (p *Policy) Forward(batch []Sample) (logp, value *ts.Tensor) {
	var cands [][]int64
	var owner []int64
	var goal []float32
	ng := p.Config.goalFeatures()
	kmax := 1
	for i, s := range batch {
		kmax = max(kmax, len(s.Cands))
		for j, c := range s.Cands {
			cands = append(cands, c)
			owner = append(owner, int64(i))
			for f := range ng {
				x := float32(0)
				if j < len(s.Goal) && f < len(s.Goal[j]) {
					x = s.Goal[j][f]
				}
				goal = append(goal, x)
			}
		}
	}
	h := p.state(batch)
	a := p.act1.Forward(pool(p.enc.emb, cands, p.Device)).MustTanh(true)
	ownT := ts.MustOfSlice(owner).MustTo(p.Device, true)
	hc := h.MustIndexSelect(0, ownT, false)
	ha := hc.MustMul(a, false)
	parts := []*ts.Tensor{hc, a, ha}
	if ng > 0 {
		parts = append(parts, ts.MustOfSlice(goal).MustView([]int64{-1, int64(ng)}, true).MustTo(p.Device, true))
	}
	feat := ts.MustCat(parts, 1)
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
