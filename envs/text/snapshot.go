package text

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/envgym/envgym/gym"
)

// snapshot is the whole episode state. The level is not stored: it is a
// pure function of id, task and seed, so it is rebuilt on Restore.
type snapshot struct {
	Env     string `json:"env"`
	Version string `json:"version"`
	Task    string `json:"task"`
	Seed    int64  `json:"seed"`
	Pos     int    `json:"pos"`
	Held    uint16 `json:"held"`
	Open    uint16 `json:"open"`
	Steps   int    `json:"steps"`
	Done    bool   `json:"done"`
	Success bool   `json:"success"`
}

// Snapshot serialises the current episode as JSON.
func (e *Env) Snapshot(ctx context.Context) ([]byte, error) {
	b, err := json.Marshal(snapshot{
		Env: e.id, Version: Version, Task: e.task.id, Seed: e.seed,
		Pos: e.st.pos, Held: e.st.held, Open: e.st.open,
		Steps: e.steps, Done: e.done, Success: e.success,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: snapshot: %w", e.id, err)
	}
	return b, nil
}

// Restore replaces the episode with a snapshot of the same id and version
// and returns the observation of the restored room. A snapshot that does
// not describe a reachable state is rejected and the env is left as it was.
func (e *Env) Restore(ctx context.Context, b []byte) (gym.Observation, error) {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return gym.Observation{}, fmt.Errorf("%s: restore: %w", e.id, err)
	}
	if s.Env != e.id || s.Version != Version {
		return gym.Observation{}, fmt.Errorf("%s: restore: snapshot is of %s version %s, want %s version %s",
			e.id, s.Env, s.Version, e.id, Version)
	}
	t, err := e.findTask(s.Task)
	if err != nil {
		return gym.Observation{}, fmt.Errorf("restore: %w", err)
	}
	lv := e.lv
	if e.lv == nil || e.task != t || e.seed != s.Seed {
		lv = generate(e.id, t, s.Seed)
	}
	mask := uint16(1)<<lv.pairs() - 1
	switch {
	case s.Pos < 0 || s.Pos >= len(lv.inside) || !lv.inside[s.Pos]:
		err = fmt.Errorf("pos %d is not a room", s.Pos)
	case s.Held&^mask != 0 || s.Open&^mask != 0:
		err = fmt.Errorf("held %#x or open %#x names keys beyond the level's %d", s.Held, s.Open, lv.pairs())
	case s.Open&^s.Held != 0:
		err = fmt.Errorf("open %#x has doors whose keys are not held (%#x)", s.Open, s.Held)
	case s.Steps < 0:
		err = fmt.Errorf("steps %d is negative", s.Steps)
	case s.Success != (s.Pos == lv.goal) || s.Success && !s.Done:
		err = fmt.Errorf("success %v and done %v disagree with pos %d (treasure at %d)", s.Success, s.Done, s.Pos, lv.goal)
	}
	if err != nil {
		return gym.Observation{}, fmt.Errorf("%s: restore: %w", e.id, err)
	}
	if e.lv != lv {
		e.oracle = nil
	}
	e.task, e.seed, e.lv = t, s.Seed, lv
	e.st = state{pos: s.Pos, held: s.Held, open: s.Open}
	e.steps, e.done, e.success = s.Steps, s.Done, s.Success
	return e.observe(""), nil
}
