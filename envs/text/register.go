package text

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/envgym/envgym/gym"
)

// Env ids of the family.
const (
	MazeID     = "text/maze-v0"
	CorridorID = "text/corridor-v0"
)

// Version is the implementation version; snapshots and trajectories of
// another version do not replay.
const Version = "0.1.0"

// maxActionBytes bounds the action strings that are parsed at all.
const maxActionBytes = 1000

// Rewards: shaped progress, then the goal.
const (
	keyReward  = 0.1
	doorReward = 0.1
	goalReward = 1.0
)

// taskDef is one task of an id: the generator and its size.
type taskDef struct {
	id       string
	desc     string
	layout   layout
	w, h     int // maze size in rooms; corridor: w is its length
	depth    int // corridor: deepest side branch
	pairs    int // key/door pairs (corridor hard: per corridor door)
	nested   bool
	maxSteps int
}

type family struct {
	spec  gym.Spec
	tasks []taskDef
}

const (
	observationSpace = "English text: the room you are in (row and column), its exits " +
		"(passages and doors, locked or open), keys lying here, what you carry, " +
		"and where the treasure is relative to you. ValidActions lists the actions that apply."
	actionSpace = `One command per step, case-insensitive: "go north|east|south|west" ` +
		`(or just "north", "n", ...), "take <colour> key", "open <colour> door" ` +
		`(or "open <direction> door"), "look". At most 1000 bytes.`
	rewardNote = " Rewards: +0.1 for each key picked up, +0.1 for each door opened, " +
		"+1 for reaching the treasure (terminated, info success=true). " +
		"The env truncates at the task's step limit (info success=false); " +
		"invalid actions count as steps."
)

// families builds the specs and tasks afresh, so nothing shared is mutable.
func families() []family {
	maze := []taskDef{
		{id: "easy", desc: "3x3 rooms, 1 key and door, 50 steps", layout: layoutMaze, w: 3, h: 3, pairs: 1, maxSteps: 50},
		{id: "medium", desc: "5x5 rooms, 2 keys and doors, 100 steps", layout: layoutMaze, w: 5, h: 5, pairs: 2, maxSteps: 100},
		{id: "hard", desc: "7x7 rooms, 3 keys and doors, 200 steps", layout: layoutMaze, w: 7, h: 7, pairs: 3, maxSteps: 200},
	}
	corridor := []taskDef{
		{id: "easy", desc: "5 rooms long, side rooms 1 deep, 1 door, 50 steps", layout: layoutCorridor, w: 5, depth: 1, pairs: 1, maxSteps: 50},
		{id: "medium", desc: "8 rooms long, side rooms 2 deep, 2 doors, 100 steps", layout: layoutCorridor, w: 8, depth: 2, pairs: 2, maxSteps: 100},
		{id: "hard", desc: "10 rooms long, side rooms 2 deep, 3 corridor doors whose keys lie behind 3 more locked doors, 200 steps",
			layout: layoutCorridor, w: 10, depth: 2, pairs: 3, nested: true, maxSteps: 200},
	}
	caps := gym.Capabilities(&Env{})
	spec := func(id, desc string, tasks []taskDef) gym.Spec {
		s := gym.Spec{
			ID:               id,
			Version:          Version,
			Description:      desc + rewardNote,
			ObservationSpace: observationSpace,
			ActionSpace:      actionSpace,
			Deterministic:    true,
			Capabilities:     caps,
		}
		for _, t := range tasks {
			s.Tasks = append(s.Tasks, gym.Task{ID: t.id, Description: t.desc, MaxSteps: t.maxSteps})
			s.MaxSteps = max(s.MaxSteps, t.maxSteps)
		}
		return s
	}
	return []family{
		{spec: spec(MazeID, "A maze of rooms with coloured keys and locked doors of the same colours; "+
			"reach the treasure in the room farthest from the start. Every door lies on the way there. "+
			"MaxSteps is per task: easy 50, medium 100, hard 200.", maze), tasks: maze},
		{spec: spec(CorridorID, "An east-west corridor cut by locked doors; each door's key lies in a side room "+
			"of the stretch before it (on hard, behind another locked door). Reach the treasure at the east end. "+
			"MaxSteps is per task: easy 50, medium 100, hard 200.", corridor), tasks: corridor},
	}
}

// Register adds every id of the family to r.
func Register(r *gym.Registry) error {
	for _, f := range families() {
		err := r.Register(f.spec, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
			return newEnv(f, opts)
		})
		if err != nil {
			return fmt.Errorf("text: %w", err)
		}
	}
	return nil
}

// New builds an instance of id directly, without a registry and so
// without the call-order guard and step limit gym.Enforced adds (wrap it
// with gym.Enforce for those): for tests and programs that use the
// concrete type.
func New(id string, opts map[string]any) (*Env, error) {
	for _, f := range families() {
		if f.spec.ID == id {
			return newEnv(f, opts)
		}
	}
	return nil, fmt.Errorf("text: %w %q (have %s, %s)", gym.ErrUnknownEnvID, id, MazeID, CorridorID)
}

// Options the factories accept.
const optMaxSteps = "max_steps" // positive integer: overrides every task's step limit

func newEnv(f family, opts map[string]any) (*Env, error) {
	e := &Env{id: f.spec.ID, spec: f.spec, tasks: f.tasks}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case optMaxSteps:
			n, err := positiveInt(opts[k])
			if err != nil {
				return nil, fmt.Errorf("option %q: %w", k, err)
			}
			e.spec.MaxSteps = n
			e.spec.Tasks = slices.Clone(e.spec.Tasks)
			for i := range e.spec.Tasks {
				e.spec.Tasks[i].MaxSteps = n
			}
		default:
			return nil, fmt.Errorf("unknown option %q for %s (accepted: %s)", k, f.spec.ID, optMaxSteps)
		}
	}
	return e, nil
}

// positiveInt accepts the number types a JSON-decoded map may hold.
func positiveInt(v any) (int, error) {
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return 0, fmt.Errorf("want a positive integer, got %T", v)
	}
	if f < 1 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0, fmt.Errorf("want a positive integer, got %v", v)
	}
	return int(f), nil
}

func taskIDs(tasks []taskDef) string {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.id
	}
	return strings.Join(ids, ", ")
}
