package worldmodel

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Curriculum is DreamGym's curriculum for dream episodes: it chooses the
// task instances a dream env starts from so that training goes where the
// policy's reward varies most (tasks it always solves or always fails
// teach little), and it synthesises task variations to choose from.
//
// Instances are the buffer's real start states of a task plus variations:
// a real start whose episode-fixed lines (the goal, see episodeKeys) take
// one differing run of words from another start's ("a blue lightweight
// sneakers, size 7" and "a white canvas sneakers, size 9" give "a blue
// lightweight sneakers, size 9"). The world model then plays the new task
// as it plays any other; whether it rewards it right is up to the model,
// as in DreamGym.
//
// Every dream episode's return is recorded against its instance (with
// decay, as the policy changes); a reset draws an instance with
// probability ∝ variance + Floor, unseen instances counting as the
// largest variance of a [0, 1] reward (0.25). Draws are deterministic
// given the seed and the curriculum's state. Safe for concurrent use by
// the envs of one registry.
type Curriculum struct {
	Floor float64 // added to every instance's weight (default 0.02)
	Decay float64 // of an instance's past statistics per new episode (default 0.9)

	mu    sync.Mutex
	tasks map[string]*taskCurriculum
	m     *Model
	synth int
}

type taskCurriculum struct {
	starts         []startState
	n, sum, sumSq  []float64
	picks, records int
}

type startState struct {
	text   string
	valid  []string
	origin string // the real episode, or "variation of A × B"
}

// NewCurriculum makes a curriculum over m's start states, with up to
// variations synthesised instances per task.
func NewCurriculum(m *Model, variations int) *Curriculum {
	return &Curriculum{Floor: 0.02, Decay: 0.9, tasks: map[string]*taskCurriculum{}, m: m, synth: variations}
}

func (c *Curriculum) task(task string) *taskCurriculum {
	if t, ok := c.tasks[task]; ok {
		return t
	}
	b := c.m.Buf
	t := &taskCurriculum{}
	idx := b.starts[task]
	if len(idx) == 0 {
		for _, k := range sortedKeys(b.starts) {
			idx = append(idx, b.starts[k]...)
		}
	}
	for _, i := range idx {
		s := b.Steps[i]
		t.starts = append(t.starts, startState{text: s.Obs, valid: s.ValidActions, origin: s.EpisodeID})
	}
	real := len(t.starts)
	seen := map[string]bool{}
	for _, s := range t.starts {
		seen[s.text] = true
	}
	// Variations: pair start i with start (i·7 + 3) mod n (or the next),
	// deterministic.
	for i := 0; i < real && len(t.starts)-real < c.synth; i++ {
		j := (i*7 + 3) % real
		if j == i {
			j = (i + 1) % real
		}
		if j == i {
			continue
		}
		for _, v := range vary(t.starts[i].text, t.starts[j].text, b.epKeys) {
			if !seen[v] && len(t.starts)-real < c.synth {
				seen[v] = true
				t.starts = append(t.starts, startState{text: v, valid: t.starts[i].valid,
					origin: fmt.Sprintf("variation of %s × %s", t.starts[i].origin, t.starts[j].origin)})
			}
		}
	}
	n := len(t.starts)
	t.n, t.sum, t.sumSq = make([]float64, n), make([]float64, n), make([]float64, n)
	c.tasks[task] = t
	return t
}

// vary gives a's text with one differing run of words of each
// episode-fixed line taken from b's, one variation per run.
func vary(a, b string, epKeys map[string]bool) []string {
	fa, fb := fieldLines(a), fieldLines(b)
	var out []string
	for _, k := range sortedKeys(fa) {
		lb, ok := fb[k]
		if !epKeys[k] || !ok || lb == fa[k] {
			continue
		}
		wa, wb := strings.Fields(fa[k]), strings.Fields(lb)
		pairs := lcs(wa, wb, func(x string) string { return x })
		ai, bi := 0, 0
		for _, p := range append(pairs, [2]int{len(wa), len(wb)}) {
			if p[0] > ai && p[1] > bi { // a run both have, differing
				nl := strings.Join(slices.Concat(wa[:ai], wb[bi:p[1]], wa[p[0]:]), " ")
				out = append(out, strings.Replace(a, fa[k], nl, 1))
			}
			ai, bi = p[0]+1, p[1]+1
		}
	}
	return out
}

// pick draws the instance of a reset.
func (c *Curriculum) pick(task string, seed int64) (int, startState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.task(task)
	if len(t.starts) == 0 {
		return 0, startState{}, fmt.Errorf("worldmodel: %w: no start states in the buffer", ErrNoData)
	}
	w := t.weights(c.Floor)
	var total float64
	for _, x := range w {
		total += x
	}
	u := float64(mix(seed, fmt.Sprintf("curriculum/%s/%d", task, t.picks))%1_000_000) / 1e6 * total
	t.picks++
	for i, x := range w {
		if u < x {
			return i, t.starts[i], nil
		}
		u -= x
	}
	return len(w) - 1, t.starts[len(w)-1], nil
}

func (t *taskCurriculum) weights(floor float64) []float64 {
	w := make([]float64, len(t.starts))
	for i := range w {
		w[i] = 0.25 + floor
		if t.n[i] >= 1.5 {
			mean := t.sum[i] / t.n[i]
			w[i] = math.Max(t.sumSq[i]/t.n[i]-mean*mean, 0) + floor
		}
	}
	return w
}

// record adds an episode's return to instance i of task.
func (c *Curriculum) record(task string, i int, ret float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.task(task)
	if i < 0 || i >= len(t.n) {
		return
	}
	t.records++
	t.n[i] = c.Decay*t.n[i] + 1
	t.sum[i] = c.Decay*t.sum[i] + ret
	t.sumSq[i] = c.Decay*t.sumSq[i] + ret*ret
}

// CurriculumStats summarise a task's curriculum.
type CurriculumStats struct {
	Instances  int     `json:"instances"`  // start states to choose from
	Variations int     `json:"variations"` // of them synthesised
	Episodes   int     `json:"episodes"`   // recorded
	Covered    int     `json:"covered"`    // instances with a recorded episode
	TopShare   float64 `json:"top_share"`  // probability mass of the 10 % heaviest instances
}

// Stats reports on task.
func (c *Curriculum) Stats(task string) CurriculumStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.task(task)
	st := CurriculumStats{Instances: len(t.starts), Episodes: t.records}
	for i, s := range t.starts {
		if strings.HasPrefix(s.origin, "variation of ") {
			st.Variations++
		}
		if t.n[i] > 0 {
			st.Covered++
		}
	}
	w := t.weights(c.Floor)
	var total float64
	for _, x := range w {
		total += x
	}
	sorted := slices.Clone(w)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	k := max(1, len(sorted)/10)
	for _, x := range sorted[:min(k, len(sorted))] {
		st.TopShare += x / math.Max(total, 1e-12)
	}
	return st
}
