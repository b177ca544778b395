package worldmodel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// Buffer holds real transitions, one trajectory.Step each, with the
// hashed features nearest-neighbour retrieval uses. Build it with
// NewBuffer; it is read-only afterwards and safe for concurrent reads.
type Buffer struct {
	Steps []trajectory.Step

	obsF, actF, nextF []sparse
	byAction          map[string][]int    // normalised action → step indices
	valid             map[string][]string // observation text → its valid actions
	starts            map[string][]int    // task → indices of steps 0 (sorted, deduplicated by obs)
}

// Neighbour is one retrieved transition.
type Neighbour struct {
	Index int     // into Steps
	Score float64 // cosine of observations + 2 × cosine of actions (max 3)
}

// normAction is the form actions are grouped by.
func normAction(a string) string { return strings.Join(strings.Fields(strings.ToLower(a)), " ") }

// NewBuffer indexes steps.
func NewBuffer(steps []trajectory.Step) *Buffer {
	b := &Buffer{
		Steps:    steps,
		obsF:     make([]sparse, len(steps)),
		actF:     make([]sparse, len(steps)),
		nextF:    make([]sparse, len(steps)),
		byAction: map[string][]int{},
		valid:    map[string][]string{},
		starts:   map[string][]int{},
	}
	seenStart := map[string]bool{}
	for i, s := range steps {
		b.obsF[i] = featurize("o", s.Obs)
		b.actF[i] = featurize("a", s.Action)
		b.nextF[i] = featurize("o", s.NextObs)
		b.byAction[normAction(s.Action)] = append(b.byAction[normAction(s.Action)], i)
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

// Nearest returns the k transitions most similar to (obs, action) by
// exact cosine, skipping those of episode skipEpisode (when not empty).
// Transitions with the same (normalised) action are searched first; the
// whole buffer only when fewer than k have it.
func (b *Buffer) Nearest(obs, action string, k int, skipEpisode string) []Neighbour {
	return b.nearest(featurize("o", obs), featurize("a", action), normAction(action), k, skipEpisode)
}

func (b *Buffer) nearest(of, af sparse, act string, k int, skipEpisode string) []Neighbour {
	if k <= 0 {
		return nil
	}
	pool := b.byAction[act]
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
		o, a := b.obsF[i], b.actF[i]
		for j, x := range o.idx {
			so += qo[x] * o.val[j]
		}
		for j, x := range a.idx {
			sa += qa[x] * a.val[j]
		}
		sc := float64(so + 2*sa)
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
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0xc011ec7))
	or, hasOracle := gym.Capable[gym.Oracle](env)
	id := env.Spec().ID
	var out []trajectory.Step
	for e := range o.Episodes {
		seed := o.Seed + int64(e)
		obs, err := env.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: o.Task})
		if err != nil {
			return out, fmt.Errorf("worldmodel: collect reset: %w", err)
		}
		epID := fmt.Sprintf("%s/%s/%d", id, o.Task, seed)
		for t := 0; o.MaxSteps <= 0 || t < o.MaxSteps; t++ {
			a := pickAction(ctx, rng, obs, or, hasOracle, o)
			r, err := env.Step(ctx, a)
			if err != nil {
				return out, fmt.Errorf("worldmodel: collect step: %w", err)
			}
			out = append(out, trajectory.Step{
				EpisodeID: epID, EnvID: id, TaskID: o.Task, Seed: seed, Step: t,
				Obs: obs.Text, ValidActions: obs.ValidActions, Action: a,
				NextObs: r.Observation.Text, Reward: r.Reward, Status: r.Status, Grounded: r.Grounded(),
				Terminated: r.Terminated, Truncated: r.Truncated,
			})
			// The final observation's valid actions are not in any step:
			// keep them on the last record's Info.
			if r.Done() {
				break
			}
			obs = r.Observation
		}
	}
	return out, nil
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
