package worldmodel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/gym/trajectory"
)

// Buffer holds real transitions, one trajectory.Step each, with the
// hashed features nearest-neighbour retrieval uses. Build it with
// NewBuffer; it is read-only afterwards and safe for concurrent reads.
type Buffer struct {
	Steps []trajectory.Step

	obsF, actF, nextF []sparse
	retF              []sparse                   // observation without episode-fixed lines (retrieval)
	byAction          map[string][]int           // poolKey → step indices
	exact             map[string][]int           // exactKey → step indices
	same              map[string][]int           // exactKey of the whole observation (goal included) → step indices
	epKeys            map[string]bool            // line keys fixed per episode (see episodeKeys)
	goalCommon        map[string]bool            // words in most goals (see commonGoalWords)
	goalF             [][nGoal]float32           // goalFeatures of each step's observation
	pages             map[string]trajectory.Step // pageKey line → a step observing that page (see pageMemory)
	valid             map[string][]string        // observation text → its valid actions
	starts            map[string][]int           // task → indices of steps 0 (sorted, deduplicated by obs)
}

// Neighbour is one retrieved transition.
type Neighbour struct {
	Index int     // into Steps
	Score float64 // cosine of observations + 2 × cosine of actions (max 3), +exactBonus for the same state and action
}

// exactBonus ranks transitions from the same state (episode-fixed lines
// aside) under the same action above every merely similar one: in a
// deterministic env their outcome is ours.
const exactBonus = 10

// normAction is the form actions are grouped by.
func normAction(a string) string { return strings.Join(strings.Fields(strings.ToLower(a)), " ") }

// NewBuffer indexes steps.
func NewBuffer(steps []trajectory.Step) *Buffer {
	b := &Buffer{
		Steps:    steps,
		obsF:     make([]sparse, len(steps)),
		actF:     make([]sparse, len(steps)),
		nextF:    make([]sparse, len(steps)),
		retF:     make([]sparse, len(steps)),
		byAction: map[string][]int{},
		exact:    map[string][]int{},
		same:     map[string][]int{},
		valid:    map[string][]string{},
		starts:   map[string][]int{},
	}
	b.epKeys = episodeKeys(func(i int) (string, string) { return steps[i].EpisodeID, steps[i].Obs }, len(steps))
	b.goalCommon = commonGoalWords(func(i int) string { return steps[i].Obs }, len(steps), b.epKeys)
	b.pages = pageMemory(steps, b.epKeys)
	b.goalF = make([][nGoal]float32, len(steps))
	for i, s := range steps {
		b.goalF[i] = b.goalFeatures(s.Obs)
	}
	seenStart := map[string]bool{}
	for i, s := range steps {
		b.obsF[i] = featurize("o", s.Obs)
		b.actF[i] = featurize("a", groundedAction(s.Obs, s.Action))
		b.nextF[i] = featurize("o", s.NextObs)
		stripped := stripKeys(s.Obs, b.epKeys)
		b.retF[i] = featurize("o", stripped)
		pk := poolKey(s.Obs, s.Action)
		b.byAction[pk] = append(b.byAction[pk], i)
		b.exact[exactKey(stripped, s.Action)] = append(b.exact[exactKey(stripped, s.Action)], i)
		b.same[exactKey(s.Obs, s.Action)] = append(b.same[exactKey(s.Obs, s.Action)], i)
		if len(s.ValidActions) > 0 {
			if _, ok := b.valid[s.Obs]; !ok {
				b.valid[s.Obs] = s.ValidActions
			}
		}
		if s.Step == 0 && !seenStart[s.TaskID+"\x00"+s.Obs] {
			seenStart[s.TaskID+"\x00"+s.Obs] = true
			b.starts[s.TaskID] = append(b.starts[s.TaskID], i)
		}
	}
	return b
}

// LoadBuffer reads trajectory JSONL files (FILE.jsonl as written by
// `gym run --out`) into a Buffer.
func LoadBuffer(paths ...string) (*Buffer, error) {
	var all []trajectory.Step
	for _, p := range paths {
		s, err := trajectory.ReadSteps(p)
		if err != nil {
			return nil, fmt.Errorf("worldmodel: %w", err)
		}
		all = append(all, s...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("worldmodel: %w: no steps in %s", ErrNoData, strings.Join(paths, ", "))
	}
	return NewBuffer(all), nil
}

// ErrNoData: there is nothing to train or evaluate on.
var ErrNoData = errors.New("worldmodel: no transitions")

// Len is the number of transitions.
func (b *Buffer) Len() int { return len(b.Steps) }

// ValidActions gives the valid actions recorded with an observation text.
func (b *Buffer) ValidActions(obs string) ([]string, bool) {
	v, ok := b.valid[obs]
	return v, ok
}

func exactKey(stripped, action string) string { return stripped + "\x00" + normAction(action) }

// query is what retrieval needs of (obs, action).
type query struct {
	ret, act sparse // features of the observation without episode-fixed lines, of the grounded action
	pool     string // poolKey
	exact    string // exactKey
}

func (b *Buffer) query(obs, action string, feat func(salt, text string) sparse) query {
	stripped := stripKeys(obs, b.epKeys)
	return query{ret: feat("o", stripped), act: feat("a", groundedAction(obs, action)),
		pool: poolKey(obs, action), exact: exactKey(stripped, action)}
}

// Nearest returns the k transitions most similar to (obs, action) by
// exact cosine, skipping those of episode skipEpisode (when not empty).
// Transitions doing the same thing (same verb on the same element, see
// poolKey) are searched first; the whole buffer only when fewer than k
// have it. Transitions from the same state under the same action come
// first (exactBonus).
func (b *Buffer) Nearest(obs, action string, k int, skipEpisode string) []Neighbour {
	return b.nearest(b.query(obs, action, featurize), k, skipEpisode)
}

func (b *Buffer) nearest(q query, k int, skipEpisode string) []Neighbour {
	if k <= 0 {
		return nil
	}
	of, af := q.ret, q.act
	same := map[int]bool{}
	for _, i := range b.exact[q.exact] {
		same[i] = true
	}
	pool := b.byAction[q.pool]
	n := 0
	for _, i := range pool {
		if b.Steps[i].EpisodeID != skipEpisode || skipEpisode == "" {
			n++
		}
	}
	all := n < k
	if all {
		pool = nil
	}
	// Dense queries: a buffer vector's dot is then one lookup per entry.
	var qo, qa [dim]float32
	for j, i := range of.idx {
		qo[i] = of.val[j]
	}
	for j, i := range af.idx {
		qa[i] = af.val[j]
	}
	// Top k by score, then by index (pools are in index order, so the
	// first of equal scores is kept).
	out := make([]Neighbour, 0, k+1)
	consider := func(i int) {
		if skipEpisode != "" && b.Steps[i].EpisodeID == skipEpisode {
			return
		}
		var so, sa float32
		o, a := b.retF[i], b.actF[i]
		for j, x := range o.idx {
			so += qo[x] * o.val[j]
		}
		for j, x := range a.idx {
			sa += qa[x] * a.val[j]
		}
		sc := float64(so + 2*sa)
		if same[i] {
			sc += exactBonus
		}
		if len(out) == k && sc <= out[k-1].Score {
			return
		}
		p := len(out)
		for p > 0 && out[p-1].Score < sc {
			p--
		}
		out = append(out, Neighbour{})
		copy(out[p+1:], out[p:])
		out[p] = Neighbour{Index: i, Score: sc}
		if len(out) > k {
			out = out[:k]
		}
	}
	if all {
		for i := range b.Steps {
			consider(i)
		}
	} else {
		for _, i := range pool {
			consider(i)
		}
	}
	return out
}

// CollectOptions drive Collect.
type CollectOptions struct {
	Episodes int     // episodes to play (default 20)
	Seed     int64   // first seed; episode e uses Seed+e
	Task     string  // task id ("" : the env's first)
	Oracle   float64 // probability of the env's oracle action, when it has one (default 0.6)
	Invalid  float64 // probability of a malformed or impossible action (default 0.1)
	MaxSteps int     // per episode; 0: until the env ends it
}

// Collect plays episodes of env with a mix of oracle, random valid and
// invalid actions and returns the transitions, in trajectory form.
func Collect(ctx context.Context, env gym.Env, o CollectOptions) ([]trajectory.Step, error) {
	if o.Episodes <= 0 {
		o.Episodes = 20
	}
	if o.Oracle == 0 {
		o.Oracle = 0.6
	}
	if o.Invalid == 0 {
		o.Invalid = 0.1
	}
	pol := &collectPolicy{rng: rand.New(rand.NewPCG(uint64(o.Seed), 0xc011ec7)), o: o}
	pol.or, pol.hasOracle = gym.Capable[gym.Oracle](env)
	id := env.Spec().ID
	var out []trajectory.Step
	for e := range o.Episodes {
		seed := o.Seed + int64(e)
		epID := fmt.Sprintf("%s/%s/%d", id, o.Task, seed)
		_, err := play.Episode(ctx, env, pol, play.Options{
			Reset: gym.ResetOptions{Seed: seed, TaskID: o.Task}, MaxSteps: o.MaxSteps,
			OnStep: func(s play.Step) {
				r := s.Result
				out = append(out, trajectory.Step{
					EpisodeID: epID, EnvID: id, TaskID: o.Task, Seed: seed, Step: s.Index,
					Obs: s.Obs.Text, ValidActions: s.Obs.ValidActions, Action: s.Action,
					NextObs: r.Observation.Text, Reward: r.Reward, Status: r.Status, Grounded: r.Grounded(),
					Terminated: r.Terminated, Truncated: r.Truncated,
				})
				if r.Done() {
					out[len(out)-1].Info = map[string]any{gym.InfoSuccess: r.Success()}
				}
			},
		})
		if err != nil {
			return out, fmt.Errorf("worldmodel: collect: %w", err)
		}
	}
	return out, nil
}

// collectPolicy mixes oracle, random valid and invalid actions, from one
// generator for the whole collection (seeded by its first seed).
type collectPolicy struct {
	rng       *rand.Rand
	or        gym.Oracle
	hasOracle bool
	o         CollectOptions
}

func (*collectPolicy) Begin(int64) {}

func (p *collectPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	return pickAction(ctx, p.rng, obs, p.or, p.hasOracle, p.o), nil
}

// junk are malformed actions the collector mixes in.
var junk = [...]string{"fly away", "xyzzy", "click(", "", "dance", "go up", "jump north", "open the window", "take", "look look look!", "((((", "'; DROP TABLE envs; --"}

func pickAction(ctx context.Context, rng *rand.Rand, obs gym.Observation, or gym.Oracle, hasOracle bool, o CollectOptions) string {
	u := rng.Float64()
	if u < o.Invalid || len(obs.ValidActions) == 0 {
		ws := words(obs.Text)
		switch {
		case rng.IntN(2) == 0 || len(obs.ValidActions) == 0 || len(ws) == 0:
			return junk[rng.IntN(len(junk))]
		default: // a valid action with one word swapped: looks right, isn't
			f := strings.Fields(obs.ValidActions[rng.IntN(len(obs.ValidActions))])
			f[rng.IntN(len(f))] = ws[rng.IntN(len(ws))]
			return strings.Join(f, " ")
		}
	}
	if hasOracle && u < o.Invalid+o.Oracle {
		if a, err := or.OracleAction(ctx); err == nil {
			return a
		}
	}
	return obs.ValidActions[rng.IntN(len(obs.ValidActions))]
}

// WriteSteps writes steps as trajectory step lines (JSONL), the format
// LoadBuffer and trajectory.ReadSteps read.
func WriteSteps(path string, steps []trajectory.Step) error {
	return writeFile(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		for _, s := range steps {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	})
}

// poolReward estimates the reward of an action from the transitions that
// did the same thing (its pool, see poolKey) in the states whose goal
// match (goalFeatures) was closest to ours: the median reward of the k
// nearest, and the share of them that had it. ok is false when the pool
// has fewer than k transitions or their rewards all agree (the reward
// head knows those). Why not the head alone: where the data are mostly
// good purchases, a head on a bag of words learns "buying pays" and a
// policy trained in the dream learns to buy anything; the goal match of
// the state is what separates a good purchase from a bad one.
func (b *Buffer) poolReward(pool string, g [nGoal]float32, skipEpisode string) (reward, share float64, ok bool) {
	const k = 7
	idx := b.byAction[pool]
	if len(idx) < k || len(b.epKeys) == 0 { // no goal lines: nothing to match on
		return 0, 0, false
	}
	first, mixed := b.Steps[idx[0]].Reward, false
	for _, i := range idx {
		if b.Steps[i].Reward != first {
			mixed = true
			break
		}
	}
	if !mixed {
		return 0, 0, false
	}
	type nb struct {
		d float32
		r float64
	}
	best := make([]nb, 0, k+1)
	for _, i := range idx {
		if skipEpisode != "" && b.Steps[i].EpisodeID == skipEpisode {
			continue
		}
		var d float32
		for j := range nGoal {
			x := b.goalF[i][j] - g[j]
			d += x * x
		}
		p := len(best)
		for p > 0 && best[p-1].d > d {
			p--
		}
		if p >= k {
			continue
		}
		best = append(best, nb{})
		copy(best[p+1:], best[p:])
		best[p] = nb{d, b.Steps[i].Reward}
		if len(best) > k {
			best = best[:k]
		}
	}
	if len(best) < k {
		return 0, 0, false
	}
	rs := make([]float64, len(best))
	for i, x := range best {
		rs[i] = x.r
	}
	slices.Sort(rs)
	reward = rs[len(rs)/2]
	for _, r := range rs {
		if r == reward {
			share++
		}
	}
	return reward, share / float64(len(rs)), true
}

// sameOutcome is the reward and termination that every other-episode
// transition from exactly this state (goal included) under this action
// had, when there is one and they agree: a deterministic env repeats
// itself, and the heads, trained on few rewarded steps, may not.
func (b *Buffer) sameOutcome(obs, action, skipEpisode string) (reward float64, terminated, ok bool) {
	n := 0
	for _, i := range b.same[exactKey(obs, action)] {
		s := b.Steps[i]
		if skipEpisode != "" && s.EpisodeID == skipEpisode {
			continue
		}
		if n > 0 && (s.Reward != reward || s.Terminated != terminated) {
			return 0, false, false
		}
		reward, terminated, n = s.Reward, s.Terminated, n+1
	}
	return reward, terminated, n > 0
}
