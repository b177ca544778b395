package trajectory

import (
	"context"
	"fmt"
	"sort"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

// Mismatch is one step whose replay differs from the recording.
type Mismatch struct {
	EpisodeID string `json:"episode_id"`
	Step      int    `json:"step"` // -1: the reset observation
	Field     string `json:"field"`
	Recorded  string `json:"recorded"`
	Replayed  string `json:"replayed"`
}

// Episodes groups steps by episode id, each episode's steps in order.
func Episodes(steps []Step) map[string][]Step {
	out := map[string][]Step{}
	for _, s := range steps {
		out[s.EpisodeID] = append(out[s.EpisodeID], s)
	}
	for _, eps := range out {
		sort.Slice(eps, func(i, j int) bool { return eps[i].Step < eps[j].Step })
	}
	return out
}

// Replay resets env with the episode's seed and task, plays its recorded
// actions and compares the reset observation and every step's next
// observation, reward and status with the recording. A deterministic env
// gives no mismatches. The error is the reset's or the context's; an env
// that refuses a recorded step is a mismatch of field "error".
func Replay(ctx context.Context, env gym.Env, m Manifest, steps []Step) ([]Mismatch, error) {
	var out []Mismatch
	diff := func(step int, field, rec, got string) {
		if rec != got {
			out = append(out, Mismatch{m.EpisodeID, step, field, rec, got})
		}
	}
	actions := make([]string, len(steps))
	for i, s := range steps {
		actions[i] = s.Action
	}
	first, played := true, 0
	_, err := play.Episode(ctx, env, &checkReset{Policy: play.Script(actions...), check: func(obs gym.Observation) {
		if first && len(steps) > 0 {
			diff(-1, "obs", steps[0].Obs, obs.Text)
		}
		first = false
	}}, play.Options{
		Reset: gym.ResetOptions{Seed: m.Seed, TaskID: m.TaskID},
		OnStep: func(st play.Step) {
			s, r := steps[st.Index], st.Result
			diff(s.Step, "next_obs", s.NextObs, r.Observation.Text)
			diff(s.Step, "reward", fmt.Sprint(s.Reward), fmt.Sprint(r.Reward))
			diff(s.Step, "status", s.Status.String(), r.Status.String())
			played++
		},
	})
	if err != nil && first {
		return out, fmt.Errorf("episode %s: %w", m.EpisodeID, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		step := played
		if played < len(steps) {
			step = steps[played].Step
		}
		diff(step, "error", "", err.Error())
	}
	return out, nil
}

// checkReset shows the reset observation to check before the script's
// first action.
type checkReset struct {
	play.Policy
	check func(gym.Observation)
	seen  bool
}

func (c *checkReset) Begin(seed int64) { c.seen = false; c.Policy.Begin(seed) }

func (c *checkReset) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if !c.seen {
		c.seen = true
		c.check(obs)
	}
	return c.Policy.Act(ctx, obs)
}
