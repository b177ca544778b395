package worldmodel

import (
	"math"

	"sync"
	"sync/atomic"

	"github.com/envgym/envgym/gym/trajectory"
)

// inference holds what plain-Go inference precomputes from the weights
// and the buffer, and the caches of a Model:
//
//   - the candidate encoder's first layer on [φ(c); φ(c) − φ(obs)] is
//     A·φ(c) − B·φ(obs) with A = G1[:, :dim] + G1[:, dim:] and
//     B = G1[:, dim:], so A·φ(next obs) of every buffer transition is
//     computed once (candPre), and B·φ(obs) once per prediction;
//   - weights are transposed to [in][hidden], so a sparse input adds
//     contiguous rows;
//   - features of texts (buffer texts permanently, others in a bounded
//     memo), first layers of edited candidates, and whole predictions
//     per (obs, valid actions, action) are memoised.
type inference struct {
	hidden int
	ft     []float32 // F1ᵀ [inDim][hidden]
	gaT    []float32 // Aᵀ [dim][hidden]
	gbT    []float32 // Bᵀ [dim][hidden]

	candPre [][]float32 // per buffer step: A·φ(next obs)

	bufFeat map[string]sparse // "o\x00" + every buffer observation
	feats   memo[sparse]
	pres    memo[[]float32]
	preds   memo[Prediction]

	// successReward is the least reward of a real success: of steps
	// recorded with info success, else the largest terminal reward seen
	// (the shop's success is a perfect purchase, not any purchase).
	successReward float64
	// termReward is the reward of every terminal step in the buffer, when
	// they all have the same one (the maze: reaching the exit pays 1).
	termReward   float64
	termRewardOK bool

	hits, misses atomic.Int64 // of preds
	noMemo       atomic.Bool  // predict every step afresh (timing)
}

// memoCap bounds each memo; a full memo is emptied and refilled.
const memoCap = 8192

type memo[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (c *memo[V]) get(k string) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *memo[V]) put(k string, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= memoCap {
		c.m = make(map[string]V, 256)
	}
	c.m[k] = v
	c.mu.Unlock()
}

func (c *memo[V]) reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// inference builds (once) and returns m's precomputed inference state.
func (m *Model) inference() *inference {
	m.once.Do(func() { m.inf = newInference(m) })
	return m.inf
}

func newInference(m *Model) *inference {
	H := len(m.w.Fb1)
	in := &inference{hidden: H, bufFeat: make(map[string]sparse, 2*m.Buf.Len())}
	in.ft = make([]float32, inDim*H)
	for j := range H {
		row := m.w.F1[j*inDim : (j+1)*inDim]
		for i, v := range row {
			in.ft[i*H+j] = v
		}
	}
	in.gaT = make([]float32, dim*H)
	in.gbT = make([]float32, dim*H)
	for j := range H {
		row := m.w.G1[j*inDim : (j+1)*inDim]
		for i := range dim {
			in.gaT[i*H+j] = row[i] + row[dim+i]
			in.gbT[i*H+j] = row[dim+i]
		}
	}
	b := m.Buf
	in.successReward = successReward(b.Steps)
	seenTerm := false
	for _, s := range b.Steps {
		switch {
		case !s.Terminated:
		case !seenTerm:
			seenTerm, in.termReward, in.termRewardOK = true, s.Reward, true
		case s.Reward != in.termReward:
			in.termReward, in.termRewardOK = 0, false
		}
	}
	in.candPre = make([][]float32, b.Len())
	byText := map[string][]float32{}
	for i, s := range b.Steps {
		in.bufFeat["o\x00"+s.Obs] = b.obsF[i]
		in.bufFeat["o\x00"+s.NextObs] = b.nextF[i]
		if p, ok := byText[s.NextObs]; ok {
			in.candPre[i] = p
			continue
		}
		in.candPre[i] = in.preA(b.nextF[i])
		byText[s.NextObs] = in.candPre[i]
	}
	return in
}

// feat is featurize, memoised.
func (in *inference) feat(salt, text string) sparse {
	k := salt + "\x00" + text
	if f, ok := in.bufFeat[k]; ok {
		return f
	}
	if f, ok := in.feats.get(k); ok {
		return f
	}
	f := featurize(salt, text)
	in.feats.put(k, f)
	return f
}

// rows is Σ x_k · W[x.idx_k] over rows of a [·][hidden] matrix.
func (in *inference) rows(w []float32, x sparse, off int, out []float32) {
	H := in.hidden
	for k, i := range x.idx {
		v := x.val[k]
		row := w[(int(i)+off)*H : (int(i)+off+1)*H]
		for j := range out {
			out[j] += v * row[j]
		}
	}
}

// preA is A·φ(c) of a candidate's features.
func (in *inference) preA(cf sparse) []float32 {
	out := make([]float32, in.hidden)
	in.rows(in.gaT, cf, 0, out)
	return out
}

// textPre is A·φ(text), memoised.
func (in *inference) textPre(text string) []float32 {
	if p, ok := in.pres.get(text); ok {
		return p
	}
	p := in.preA(in.feat("o", text))
	in.pres.put(text, p)
	return p
}

// obsDelta is B·φ(obs).
func (in *inference) obsDelta(of sparse) []float32 {
	out := make([]float32, in.hidden)
	in.rows(in.gbT, of, 0, out)
	return out
}

// encodeTransition is the transition encoder on [φ(obs); φ(action)]: the
// hidden layer and the L2-normalised embedding.
func (in *inference) encodeTransition(m *Model, of, af sparse) (h, z []float32) {
	h = make([]float32, in.hidden)
	copy(h, m.w.Fb1)
	in.rows(in.ft, of, 0, h)
	in.rows(in.ft, af, dim, h)
	for j, v := range h {
		h[j] = float32(math.Tanh(float64(v)))
	}
	return h, normalised(linear(h, m.w.F2, m.w.Fb2))
}

// encodeCandidate is the candidate encoder from its first layer's parts.
func (in *inference) encodeCandidate(m *Model, pre, obsDelta []float32) []float32 {
	h := make([]float32, in.hidden)
	for j := range h {
		h[j] = float32(math.Tanh(float64(m.w.Gb1[j] + pre[j] - obsDelta[j])))
	}
	return normalised(linear(h, m.w.G2, m.w.Gb2))
}

func normalised(z []float32) []float32 {
	var n float64
	for _, v := range z {
		n += float64(v) * float64(v)
	}
	n = math.Max(math.Sqrt(n), 1e-6)
	for i := range z {
		z[i] /= float32(n)
	}
	return z
}

// CacheStats are the prediction memo's hits and misses since the last
// ResetCache.
func (m *Model) CacheStats() (hits, misses int64) {
	in := m.inference()
	return in.hits.Load(), in.misses.Load()
}

// ResetCache empties the memos (not the precomputed buffer encodings),
// e.g. to time a cold model.
func (m *Model) ResetCache() {
	in := m.inference()
	in.feats.reset()
	in.pres.reset()
	in.preds.reset()
	in.hits.Store(0)
	in.misses.Store(0)
}

func successReward(steps []trajectory.Step) float64 {
	least, best := math.Inf(1), 0.0
	for _, s := range steps {
		if s.Terminated && s.Result().Success() {
			least = math.Min(least, s.Reward)
		}
		if s.Terminated {
			best = math.Max(best, s.Reward)
		}
	}
	if !math.IsInf(least, 1) {
		return least
	}
	return best
}
