package trainer

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/envgym/envgym/gym"
)

// step is one recorded decision.
type step struct {
	sample   Sample
	act      int
	logp     float64
	value    float64
	reward   float64 // the env's reward
	status   gym.Status
	grounded bool
	oracle   bool // the action is the one the env's oracle would take (only when the collector checks)
}

// episode is one finished episode.
type episode struct {
	steps   []step
	success bool
	infra   bool // a CRASHED/TIMEOUT/ENV_ERROR step or an env error: excluded from the loss
	ret     float64
	byRet   bool // outcome is the env return (Config.Outcome "return")
}

// outcome is the episode's final reward: 1 on success, else 0; or, with
// Config.Outcome "return", the env's return (the web shop's partial
// score).
func (e *episode) outcome() float64 {
	if e.byRet {
		return e.ret
	}
	if e.success {
		return 1
	}
	return 0
}

// pushHist puts action in front of hist, keeping at most k.
func pushHist(hist []string, action string, k int) []string {
	if k <= 0 {
		return nil
	}
	out := make([]string, 0, k)
	out = append(out, action)
	out = append(out, hist[:min(len(hist), k-1)]...)
	return out
}

// candidates is what the policy chooses among: the env's valid actions
// plus distract distractors (see distractors).
func candidates(o gym.Observation, distract int) []string {
	valid := gym.ExpandTemplates(o.Text, o.ValidActions)
	if len(valid) == 0 {
		valid = []string{"look"}
	}
	if distract <= 0 {
		return valid
	}
	return append(append([]string(nil), valid...), distractors(o.Text, valid, distract)...)
}

// distractorDirs and distractorColors are the words distractors are made
// of: text-env commands that are usually not valid in a given state.
var (
	distractorDirs   = []string{"north", "east", "south", "west"}
	distractorColors = []string{"red", "blue", "green", "yellow"}
)

// distractors gives up to n actions that are not in valid, chosen
// deterministically from the observation text: "go" through a wall,
// taking or opening something that is not there, or a valid action with
// two letters of its last word swapped. The envs' valid-action lists make
// every candidate executable, so the SPA grounding term never fires; with
// distractors among the candidates the policy can pick actions that the env
// rejects (StatusInvalidAction: not grounded) and grounding has something
// to say.
func distractors(text string, valid []string, n int) []string {
	in := make(map[string]bool, len(valid))
	for _, v := range valid {
		in[v] = true
	}
	var pool []string
	add := func(a string) {
		if !in[a] {
			in[a] = true
			pool = append(pool, a)
		}
	}
	for _, d := range distractorDirs {
		add("go " + d)
	}
	for _, c := range distractorColors {
		add("take " + c + " key")
		add("open " + c + " door")
	}
	for _, v := range valid {
		w := []byte(v)
		i := strings.LastIndexByte(v, ' ') + 1
		if len(w)-i >= 3 && w[i+1] != w[i+2] {
			w[i+1], w[i+2] = w[i+2], w[i+1]
			add(string(w))
		}
	}
	h := fnv.New64a()
	h.Write([]byte(text))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0xd15))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:min(n, len(pool))]
}

// sampleIndex draws from probs with rng (greedy when rng is nil).
func sampleIndex(probs []float64, rng *rand.Rand) int {
	if rng == nil {
		best := 0
		for i, p := range probs {
			if p > probs[best] {
				best = i
			}
		}
		return best
	}
	u, acc := rng.Float64(), 0.0
	for i, p := range probs {
		acc += p
		if u < acc {
			return i
		}
	}
	return len(probs) - 1
}

// collector runs a policy over a gym.Vector with auto-reset, keeping
// partial episodes across calls.
type collector struct {
	distract int  // distractor candidates per step
	oracle   bool // record whether each action agrees with the env's oracle
	vec      *gym.Vector
	obs      []gym.Observation
	hist     [][]string
	cur      []episode
	epCount  []int
	base     gym.ResetOptions
}

func newCollector(ctx context.Context, envs []gym.Env, base gym.ResetOptions) (*collector, error) {
	c := &collector{vec: gym.NewVector(envs), hist: make([][]string, len(envs)),
		cur: make([]episode, len(envs)), epCount: make([]int, len(envs)), base: base}
	n := int64(len(envs))
	c.vec.NextReset = func(i, _ int) gym.ResetOptions {
		o := c.base
		o.Seed = c.base.Seed + int64(c.epCount[i])*n + int64(i)
		c.epCount[i]++
		return o
	}
	obs, err := c.vec.Reset(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("trainer: reset envs: %w", err)
	}
	c.obs = obs
	return c, nil
}

// collect steps all envs until at least n env steps were taken and
// returns the episodes that finished.
func (c *collector) collect(ctx context.Context, p *Policy, n int, rng *rand.Rand) ([]episode, int, error) {
	var done []episode
	steps := 0
	for steps < n {
		batch := make([]Sample, len(c.obs))
		cands := make([][]string, len(c.obs))
		for i, o := range c.obs {
			cands[i] = candidates(o, c.distract)
			batch[i] = p.sample(o.Text, c.hist[i], cands[i])
		}
		probs, values := p.Probs(batch)
		actions := make([]string, len(batch))
		picks := make([]int, len(batch))
		for i := range batch {
			picks[i] = sampleIndex(probs[i], rng)
			actions[i] = cands[i][picks[i]]
		}
		agree := make([]bool, len(batch))
		if c.oracle {
			for i := range batch {
				if or, ok := gym.Capable[gym.Oracle](c.vec.Env(i)); ok {
					if a, err := or.OracleAction(ctx); err == nil {
						agree[i] = a == actions[i]
					}
				}
			}
		}
		out, err := c.vec.Step(ctx, actions)
		if err != nil {
			return nil, steps, fmt.Errorf("trainer: vector step: %w", err)
		}
		steps += len(out)
		for i, r := range out {
			ep := &c.cur[i]
			ep.steps = append(ep.steps, step{sample: batch[i], act: picks[i],
				logp: logOf(probs[i][picks[i]]), value: values[i], reward: r.Reward,
				status: r.Status, grounded: r.Grounded(), oracle: agree[i]})
			ep.ret += r.Reward
			if r.Status.Infra() || r.Err != nil {
				ep.infra = true
			}
			c.hist[i] = pushHist(c.hist[i], label(c.obs[i].Text, actions[i]), p.Config.History)
			switch {
			case r.Err != nil && r.Reset == nil:
				// The env failed (or its auto-reset did): count the episode
				// as infra and start a fresh one.
				o, err := c.vec.Env(i).Reset(ctx, c.vec.NextReset(i, 0))
				if err != nil {
					return nil, steps, fmt.Errorf("trainer: reset env %d after failure: %w", i, err)
				}
				done = append(done, *ep)
				c.cur[i], c.obs[i], c.hist[i] = episode{}, o, nil
			case r.Done():
				ep.success = r.Success()
				done = append(done, *ep)
				c.cur[i], c.obs[i], c.hist[i] = episode{}, *r.Reset, nil
			default:
				c.obs[i] = r.Observation
			}
		}
	}
	return done, steps, nil
}

// sample encodes one decision for the policy: the observation, the
// previous actions (as label gave them) and the candidate actions, each
// described by the element it names (describe).
func (p *Policy) sample(obs string, hist, cands []string) Sample {
	s := Sample{Lines: p.Tok.EncodeLines(obs), Cands: make([][]int64, len(cands))}
	for _, h := range hist {
		s.Hist = append(s.Hist, p.Tok.Encode(h))
	}
	els := elements(obs)
	ng := p.Config.goalFeatures()
	goal, _ := parseGoal(obs)
	if ng > 0 {
		s.Goal = make([][]float32, len(cands))
	}
	for j, a := range cands {
		s.Cands[j] = p.Tok.Encode(describe(els, a))
		if ng > 0 {
			s.Goal[j] = goal.features(candidateContent(els, a), ng)
		}
	}
	return s
}

// label is how an action taken in observation obs enters the history.
func label(obs, action string) string { return describe(elements(obs), action) }
