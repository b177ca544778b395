package worldmodel

import (
	"bufio"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// Sizes of the learned parts.
const (
	inDim      = 2 * dim // [φ(obs); φ(action)] or [φ(cand); φ(cand) − φ(obs)]
	neighbours = 4       // retrieved transitions per prediction
	maxCands   = 4*neighbours + 1
	scoreScale = 10 // cosine → logit
)

// Meta describes a trained model; it is model.json of a model directory.
type Meta struct {
	EnvID        string         `json:"env_id"`      // the real env it imitates
	EnvVersion   string         `json:"env_version"` // of the transitions it was trained on
	Spec         gym.Spec       `json:"spec"`        // the real env's spec
	RewardValues []float64      `json:"reward_values"`
	MaxSteps     map[string]int `json:"max_steps"` // per task, as seen truncating in the data
	Hidden       int            `json:"hidden"`
	Embed        int            `json:"embed"`
	Transitions  int            `json:"transitions"`
	TrainLoss    float64        `json:"train_loss"`
	TrainCandAcc float64        `json:"train_candidate_acc"` // best candidate picked, on the training set
}

// weights are the learned parameters, row-major [out][in], for inference
// in plain Go (see Model).
type weights struct {
	F1, Fb1, F2, Fb2 []float32 // transition encoder (obs, action)
	G1, Gb1, G2, Gb2 []float32 // candidate encoder (next obs, its change)
	R, Rb            []float32 // reward class head
	T, Tb            []float32 // termination head
	S, Sb            []float32 // status head
	P                []float32 // weights of the candidates' prior features (absent in older models: no prior)
	RG               []float32 // reward head on goalFeatures, [class][nGoal] (absent in older models)
}

// Model predicts transitions. It is read-only after Train or LoadModel and
// safe for concurrent use; inference needs no libtorch.
type Model struct {
	Meta Meta
	Buf  *Buffer
	w    weights

	once sync.Once
	inf  *inference
}

// Confidence is how sure a Prediction is, each in [0, 1].
type Confidence struct {
	Obs     float64 `json:"obs"`     // softmax mass of the chosen next observation
	Reward  float64 `json:"reward"`  // probability of the chosen reward class
	Done    float64 `json:"done"`    // probability of the chosen termination
	Status  float64 `json:"status"`  // probability of the chosen status
	Overall float64 `json:"overall"` // the product
}

// Prediction is the model's guess for one (observation, action).
type Prediction struct {
	NextObs      string     `json:"next_obs"`
	ValidActions []string   `json:"valid_actions,omitempty"`
	Reward       float64    `json:"reward"`
	Terminated   bool       `json:"terminated"`
	Status       gym.Status `json:"status"`
	Confidence   Confidence `json:"confidence"`
	Source       string     `json:"source"`    // "retrieved", "edit" or "copy"
	Neighbour    float64    `json:"neighbour"` // retrieval score of the nearest transition (max 3)
}

// cand is a candidate next observation.
type cand struct {
	text   string
	valid  []string
	source string
	step   int  // the buffer transition whose next observation this is, or -1
	exact  bool // made from a transition from the same state under the same action
	votes  int  // neighbours × edits that produced this text
	rank   int  // best rank of a neighbour that produced it
}

// Candidate sources, in the order of their prior features.
var sources = [...]string{"edit", "patch", "context", "retrieved", "copy"}

// nPrior is the length of a candidate's prior features (see prior).
const nPrior = len(sources) + 5

// prior are the features of a candidate's provenance that the model
// weighs beside its text: its source, whether it came from a transition
// from the same state under the same action, how many neighbours and
// edits agree on it, and its neighbour's rank. In a deterministic env an
// outcome seen from the same state is the answer; where hidden state
// makes outcomes differ, agreement is the evidence. Learned, so each env
// gets the weights its data support.
func (c cand) prior() [nPrior]float32 {
	var f [nPrior]float32
	for i, s := range sources {
		if c.source == s {
			f[i] = 1
		}
	}
	k := len(sources)
	if c.exact {
		f[k] = 1
	}
	f[k+1] = float32(min(c.votes-1, 8)) / 4
	if c.rank < 3 && c.source != "copy" {
		f[k+2+c.rank] = 1
	}
	return f
}

// candidates builds the next-observation candidates of (obs, action):
// edits of obs after the nearest transitions (analogy, patch, and patch
// with the neighbour's page mapped onto ours), their real next
// observations, and obs itself.
func (b *Buffer) candidates(obs string, valid []string, q query, action string, skipEpisode string) ([]cand, float64) {
	nbs := b.nearest(q, neighbours, skipEpisode)
	elem, _, _ := element(obs, action)
	out := make([]cand, 0, maxCands)
	add := func(c cand) {
		c.votes = 1
		for i := range out {
			if out[i].text == c.text {
				out[i].votes++
				out[i].exact = out[i].exact || c.exact
				out[i].rank = min(out[i].rank, c.rank)
				if out[i].step < 0 {
					out[i].step = c.step
				}
				return
			}
		}
		if len(out) < maxCands {
			out = append(out, c)
		}
	}
	// validFor guesses an edited page's valid actions: the neighbour's
	// next page's when the edit has its elements, else ours when it has
	// ours.
	validFor := func(text, nbNext string) []string {
		if v, ok := b.valid[text]; ok {
			return v
		}
		sig := elemSig(text)
		if nv, ok := b.valid[nbNext]; ok && sig == elemSig(nbNext) {
			return nv
		}
		if sig == elemSig(obs) {
			return valid
		}
		return b.valid[nbNext]
	}
	for r, n := range nbs {
		s := b.Steps[n.Index]
		ex := n.Score >= exactBonus
		nbElem, _, _ := element(s.Obs, s.Action)
		sub := newSubstitution(s.Action, nbElem, action, elem)
		e := analogy(obs, s.Obs, s.NextObs, sub)
		c := cand{text: e, valid: validFor(e, s.NextObs), source: "edit", step: -1, exact: ex, rank: r}
		if e == s.NextObs {
			c.step = n.Index
		}
		add(c)
		pt := patch(obs, s.Obs, s.NextObs, sub)
		add(cand{text: pt, valid: validFor(pt, s.NextObs), source: "patch", step: -1, exact: ex, rank: r})
		if ctx := slices.Concat(sub, contextSubstitution(s.Obs, obs, b.epKeys)); len(ctx) > len(sub) {
			if pc := patch(obs, s.Obs, s.NextObs, ctx); pc != pt {
				add(cand{text: pc, valid: validFor(pc, s.NextObs), source: "context", step: -1, exact: ex, rank: r})
			}
		}
	}
	for r, n := range nbs {
		s := b.Steps[n.Index]
		add(cand{text: s.NextObs, valid: b.valid[s.NextObs], source: "retrieved", step: n.Index, exact: n.Score >= exactBonus, rank: r})
	}
	add(cand{text: obs, valid: valid, source: "copy", step: -1, rank: neighbours})
	top := 0.0
	if len(nbs) > 0 {
		top = nbs[0].Score
	}
	return out, top
}

// concat places a in [0, dim) and b in [dim, 2·dim).
func concat(a, b sparse) sparse {
	v := sparse{idx: make([]int32, 0, len(a.idx)+len(b.idx)), val: make([]float32, 0, len(a.idx)+len(b.idx))}
	v.idx = append(v.idx, a.idx...)
	v.val = append(v.val, a.val...)
	for k, i := range b.idx {
		v.idx = append(v.idx, i+dim)
		v.val = append(v.val, b.val[k])
	}
	return v
}

func transInput(of, af sparse) sparse { return concat(of, af) }

func candInput(cf, of sparse) sparse { return concat(cf, sub(cf, of)) }

func linear(h, w, b []float32) []float32 {
	out := make([]float32, len(b))
	nh := len(h)
	for o := range out {
		s := b[o]
		row := w[o*nh : (o+1)*nh]
		for j, v := range h {
			s += row[j] * v
		}
		out[o] = s
	}
	return out
}

func softmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// Predict guesses what action does in the state observed as obs (whose
// valid actions are valid, when known). Predictions are memoised per
// (obs, valid actions, action): the model is deterministic.
func (m *Model) Predict(obs string, valid []string, action string) Prediction {
	in := m.inference()
	if in.noMemo.Load() {
		return m.predict(obs, valid, action, "")
	}
	key := predKey(obs, valid, action)
	if p, ok := in.preds.get(key); ok {
		in.hits.Add(1)
		p.ValidActions = slices.Clone(p.ValidActions)
		return p
	}
	in.misses.Add(1)
	p := m.predict(obs, valid, action, "")
	in.preds.put(key, p)
	p.ValidActions = slices.Clone(p.ValidActions)
	return p
}

func predKey(obs string, valid []string, action string) string {
	var b strings.Builder
	b.Grow(len(obs) + len(action) + 16*len(valid) + 2)
	b.WriteString(action)
	b.WriteByte(0)
	b.WriteString(obs)
	for _, v := range valid {
		b.WriteByte(1)
		b.WriteString(v)
	}
	return b.String()
}

func (m *Model) predict(obs string, valid []string, action, skipEpisode string) Prediction {
	in := m.inference()
	q := m.Buf.query(obs, action, in.feat)
	of, af := in.feat("o", obs), q.act
	cands, top := m.Buf.candidates(obs, valid, q, action, skipEpisode)
	h, zf := in.encodeTransition(m, of, af)
	cb := in.obsDelta(of) // the −φ(obs) part of every candidate's first layer
	scores := make([]float64, len(cands))
	for i, c := range cands {
		var pre []float32
		switch {
		case c.step >= 0:
			pre = in.candPre[c.step]
		case c.source == "copy":
			pre = in.preA(of)
		default:
			pre = in.textPre(c.text)
		}
		zg := in.encodeCandidate(m, pre, cb)
		var s float32
		for j := range zf {
			s += zf[j] * zg[j]
		}
		scores[i] = scoreScale * float64(s)
		if len(m.w.P) == nPrior {
			pf := c.prior()
			for j, w := range m.w.P {
				scores[i] += float64(w * pf[j])
			}
		}
	}
	p := softmax(scores)
	best := argmax(p)
	pred := Prediction{
		NextObs: cands[best].text, ValidActions: cands[best].valid, Source: cands[best].source, Neighbour: top,
	}
	pred.Confidence.Obs = p[best]
	// Navigation to a page the buffer has seen: that page, with our
	// episode-fixed lines.
	if u := pageOf(pred.NextObs); u != "" && u != pageOf(obs) && pred.Source != "copy" {
		if s, ok := m.Buf.pages[u]; ok && s.EpisodeID != skipEpisode {
			pred.NextObs, pred.ValidActions, pred.Source = withLines(s.Obs, obs, m.Buf.epKeys), s.ValidActions, "page"
		}
	}

	rl := linear(h, m.w.R, m.w.Rb)
	if len(m.w.RG) == len(rl)*nGoal {
		g := m.Buf.goalFeatures(obs)
		for c := range rl {
			for j := range nGoal {
				rl[c] += m.w.RG[c*nGoal+j] * g[j]
			}
		}
	}
	rp := softmax(toF64(rl))
	rc := argmax(rp)
	pred.Reward, pred.Confidence.Reward = m.Meta.RewardValues[rc], rp[rc]
	if r, share, ok := m.Buf.poolReward(q.pool, m.Buf.goalFeatures(obs), skipEpisode); ok {
		pred.Reward, pred.Confidence.Reward = r, share
	}

	pt := 1 / (1 + math.Exp(-float64(linear(h, m.w.T, m.w.Tb)[0])))
	pred.Terminated = pt >= 0.5
	pred.Confidence.Done = math.Max(pt, 1-pt)

	// An env whose episodes all end with one reward: termination is that
	// reward (the reward head, trained on few terminal steps, lags the
	// done head).
	if in.termRewardOK && pt >= 0.9 {
		pred.Reward, pred.Confidence.Reward = in.termReward, pred.Confidence.Done
	}
	if r, term, ok := m.Buf.sameOutcome(obs, action, skipEpisode); ok {
		pred.Reward, pred.Confidence.Reward = r, 1
		pred.Terminated, pred.Confidence.Done = term, 1
	}

	sp := softmax(toF64(linear(h, m.w.S, m.w.Sb)))
	sc := argmax(sp)
	pred.Status, pred.Confidence.Status = gym.Status(sc), sp[sc]
	c := pred.Confidence
	pred.Confidence.Overall = c.Obs * c.Reward * c.Done * c.Status
	return pred
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// rewardClass is the index of the reward value nearest r.
func rewardClass(values []float64, r float64) int {
	best := 0
	for i, v := range values {
		if math.Abs(v-r) < math.Abs(values[best]-r) {
			best = i
		}
	}
	return best
}

// rewardValues are the distinct rewards of steps (at most 32: the most
// frequent), sorted.
func rewardValues(steps []trajectory.Step) []float64 {
	count := map[float64]int{}
	for _, s := range steps {
		count[math.Round(s.Reward*1e6)/1e6]++
	}
	vals := make([]float64, 0, len(count))
	for v := range count {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool {
		if count[vals[i]] != count[vals[j]] {
			return count[vals[i]] > count[vals[j]]
		}
		return vals[i] < vals[j]
	})
	if len(vals) > 32 {
		vals = vals[:32]
	}
	if len(vals) == 0 {
		vals = []float64{0}
	}
	sort.Float64s(vals)
	return vals
}

// Files of a model directory.
const (
	metaFile    = "model.json"
	weightsFile = "weights.gob"
	bufferFile  = "buffer.jsonl"
)

// Save writes the model into dir: model.json, weights.gob and the replay
// buffer as buffer.jsonl (trajectory step lines).
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("worldmodel: save: %w", err)
	}
	b, err := json.MarshalIndent(m.Meta, "", "  ")
	if err != nil {
		return fmt.Errorf("worldmodel: encode meta: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
		return fmt.Errorf("worldmodel: save meta: %w", err)
	}
	if err := writeFile(filepath.Join(dir, weightsFile), func(w *bufio.Writer) error { return gob.NewEncoder(w).Encode(m.w) }); err != nil {
		return err
	}
	return WriteSteps(filepath.Join(dir, bufferFile), m.Buf.Steps)
}

func writeFile(path string, write func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("worldmodel: save: %w", err)
	}
	w := bufio.NewWriter(f)
	if err := write(w); err != nil {
		f.Close()
		return fmt.Errorf("worldmodel: save %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("worldmodel: save %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("worldmodel: save %s: %w", path, err)
	}
	return nil
}

// LoadModel reads a model directory written by Save.
func LoadModel(dir string) (*Model, error) {
	m := &Model{}
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("worldmodel: load: %w", err)
	}
	if err := json.Unmarshal(b, &m.Meta); err != nil {
		return nil, fmt.Errorf("worldmodel: decode %s: %w", metaFile, err)
	}
	f, err := os.Open(filepath.Join(dir, weightsFile))
	if err != nil {
		return nil, fmt.Errorf("worldmodel: load: %w", err)
	}
	defer f.Close()
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&m.w); err != nil {
		return nil, fmt.Errorf("worldmodel: decode %s: %w", weightsFile, err)
	}
	if len(m.w.F1) != m.Meta.Hidden*inDim || len(m.w.R) != len(m.Meta.RewardValues)*m.Meta.Hidden {
		return nil, fmt.Errorf("worldmodel: %s does not match %s (hidden %d)", weightsFile, metaFile, m.Meta.Hidden)
	}
	buf, err := LoadBuffer(filepath.Join(dir, bufferFile))
	if err != nil {
		return nil, err
	}
	m.Buf = buf
	m.inference() // encode the buffer's candidates once, at load
	return m, nil
}
