package view

import (
	"fmt"
	"sort"

	"github.com/envgym/envgym/gym/trajectory"
)

// SeedRow pairs the episodes of two runs that played the same env, task
// and seed (the k-th repetition of a seed with the k-th).
type SeedRow struct {
	EnvID    string   `json:"env_id"`
	TaskID   string   `json:"task_id,omitempty"`
	Seed     int64    `json:"seed"`
	A        *Episode `json:"a,omitempty"`
	B        *Episode `json:"b,omitempty"`
	Differs  bool     `json:"differs"` // success or return differ
	Repeated int      `json:"repeat,omitempty"`
}

// Comparison is the seed-by-seed table of two runs.
type Comparison struct {
	A, B      RunSummary `json:"-"`
	RunA      string     `json:"run_a"`
	RunB      string     `json:"run_b"`
	Rows      []SeedRow  `json:"rows"`
	SuccessA  int        `json:"success_a"`
	SuccessB  int        `json:"success_b"`
	Paired    int        `json:"paired"`
	OnlyOne   int        `json:"only_one"` // seeds that only one run played
	Differing int        `json:"differing"`
}

type seedKey struct {
	env, task string
	seed      int64
	rep       int
}

// Compare pairs two runs' episodes by env, task and seed.
func Compare(a, b *Run) Comparison {
	c := Comparison{RunA: a.ID, RunB: b.ID}
	rows := map[seedKey]*SeedRow{}
	var order []seedKey
	for side, r := range []*Run{a, b} {
		reps := map[seedKey]int{}
		r.mu.RLock()
		for _, ep := range r.episodes {
			k := seedKey{ep.EnvID, ep.TaskID, ep.Seed, 0}
			k.rep = reps[k]
			reps[seedKey{ep.EnvID, ep.TaskID, ep.Seed, 0}]++
			row, ok := rows[k]
			if !ok {
				row = &SeedRow{EnvID: ep.EnvID, TaskID: ep.TaskID, Seed: ep.Seed, Repeated: k.rep}
				rows[k] = row
				order = append(order, k)
			}
			cp := *ep
			if side == 0 {
				row.A = &cp
			} else {
				row.B = &cp
			}
		}
		r.mu.RUnlock()
	}
	sort.SliceStable(order, func(i, j int) bool {
		x, y := order[i], order[j]
		if x.env != y.env {
			return x.env < y.env
		}
		if x.task != y.task {
			return x.task < y.task
		}
		if x.seed != y.seed {
			return x.seed < y.seed
		}
		return x.rep < y.rep
	})
	for _, k := range order {
		row := rows[k]
		if row.A == nil || row.B == nil {
			c.OnlyOne++
		} else {
			c.Paired++
			row.Differs = row.A.Success != row.B.Success || row.A.Return != row.B.Return
			if row.Differs {
				c.Differing++
			}
		}
		if row.A != nil && row.A.Success {
			c.SuccessA++
		}
		if row.B != nil && row.B.Success {
			c.SuccessB++
		}
		c.Rows = append(c.Rows, *row)
	}
	if c.Rows == nil {
		c.Rows = []SeedRow{}
	}
	return c
}

// Difference is the first step where two episodes part.
type Difference struct {
	Step  int    `json:"step"`  // -1: none
	Field string `json:"field"` // "obs", "action", "next_obs", "reward", "status", "length"
	A     string `json:"a,omitempty"`
	B     string `json:"b,omitempty"`
}

// FirstDifference compares two recorded episodes step against step, on
// what gym replay compares (the first observation, then each step's
// action, next observation, reward and status), and returns the first
// step where they differ (Step -1 when they do not).
func FirstDifference(a, b []trajectory.Step) Difference {
	if len(a) > 0 && len(b) > 0 && a[0].Obs != b[0].Obs {
		return Difference{Step: 0, Field: "obs", A: a[0].Obs, B: b[0].Obs}
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		for _, f := range []struct{ name, a, b string }{
			{"action", x.Action, y.Action},
			{"next_obs", x.NextObs, y.NextObs},
			{"reward", fmt.Sprint(x.Reward), fmt.Sprint(y.Reward)},
			{"status", x.Status.String(), y.Status.String()},
		} {
			if f.a != f.b {
				return Difference{Step: i, Field: f.name, A: f.a, B: f.b}
			}
		}
	}
	if len(a) != len(b) {
		return Difference{Step: min(len(a), len(b)), Field: "length", A: fmt.Sprint(len(a), " steps"), B: fmt.Sprint(len(b), " steps")}
	}
	return Difference{Step: -1}
}
