package text

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/envgym/envgym/gym"
)

// Env is one instance of a text env id. Like every gym.Env it is driven by
// one goroutine. It has no call-order guard or step limit of its own:
// Registry.Make wraps it in gym.Enforced, which applies both.
type Env struct {
	id    string
	spec  gym.Spec
	tasks []taskDef

	task    *taskDef
	seed    int64
	lv      *level
	st      state
	steps   int
	done    bool
	success bool

	buf    []move         // scratch for legal moves
	oracle map[state]move // the last plan, by the state each move starts from
}

var (
	_ gym.Env           = (*Env)(nil)
	_ gym.ValidActioner = (*Env)(nil)
	_ gym.Snapshotter   = (*Env)(nil)
	_ gym.Renderer      = (*Env)(nil)
	_ gym.Oracle        = (*Env)(nil)
)

// lookMove re-describes the room; it is always legal and changes nothing.
const lookMove move = 4

// Spec describes the id; MaxSteps is the largest task limit.
func (e *Env) Spec() gym.Spec { return e.spec }

// Close ends the instance.
func (e *Env) Close() error {
	e.lv, e.oracle = nil, nil
	return nil
}

// Reset generates the level of opts.TaskID (the first task when empty) for
// opts.Seed and puts the agent at its start.
func (e *Env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if err := ctx.Err(); err != nil {
		return gym.Observation{}, fmt.Errorf("%s: reset: %w", e.id, err)
	}
	if len(opts.Options) > 0 {
		names := make([]string, 0, len(opts.Options))
		for k := range opts.Options {
			names = append(names, strconv.Quote(k))
		}
		sort.Strings(names)
		return gym.Observation{}, fmt.Errorf("%s: reset: unknown options %s (this env takes none; choose the level with seed and task_id)",
			e.id, strings.Join(names, ", "))
	}
	t, err := e.findTask(opts.TaskID)
	if err != nil {
		return gym.Observation{}, err
	}
	e.begin(t, opts.Seed)
	return e.observe(e.intro()), nil
}

func (e *Env) findTask(id string) (*taskDef, error) {
	if id == "" {
		return &e.tasks[0], nil
	}
	for i := range e.tasks {
		if e.tasks[i].id == id {
			return &e.tasks[i], nil
		}
	}
	return nil, fmt.Errorf("%s: %w %q; valid tasks: %s", e.id, gym.ErrUnknownTask, id, taskIDs(e.tasks))
}

func (e *Env) begin(t *taskDef, seed int64) {
	e.task, e.seed = t, seed
	e.lv = generate(e.id, t, seed)
	e.st = state{pos: e.lv.start}
	e.steps, e.done, e.success = 0, false, false
	e.oracle = nil
}

// maxSteps is the episode's step limit, which the registry's
// gym.Enforced applies (the spec lists it per task).
func (e *Env) maxSteps() int { return gym.StepLimit(e.spec, e.task.id) }

// Step parses and executes one action. Invalid actions leave the room,
// keys and doors as they were but still count toward the step limit
// (gym.Enforced's, from the spec), so a stream of garbage ends the
// episode too.
func (e *Env) Step(ctx context.Context, action string) (gym.StepResult, error) {
	if err := ctx.Err(); err != nil {
		return gym.StepResult{}, fmt.Errorf("%s: step: %w", e.id, err)
	}
	e.steps++
	m, why := e.resolve(action)
	var res gym.StepResult
	if why != "" {
		res = gym.Invalid(e.observe(""), why)
	} else {
		msg, reward := e.exec(m)
		res = gym.StepResult{Observation: e.observe(msg), Reward: reward}
	}
	if e.success {
		res.Terminated = true
		res.Observation.Info = e.endInfo(res.Observation.Info)
	}
	return res, nil
}

// endInfo adds the success and the step count to the last step's info.
func (e *Env) endInfo(info map[string]any) map[string]any {
	out := make(map[string]any, len(info)+3)
	for k, v := range info {
		out[k] = v
	}
	out[gym.InfoSuccess] = true
	out["steps"] = e.steps
	return out
}

// exec applies a legal move and narrates it.
func (e *Env) exec(m move) (msg string, reward float64) {
	lv := e.lv
	before := e.st
	switch {
	case m == lookMove:
		return "You look around.", 0
	case m.isGo():
		e.st = lv.apply(before, m)
		if e.st.pos == lv.goal {
			e.done, e.success = true, true
			return "You go " + dirNames[m] + " into the treasure room and claim the treasure. You win!", goalReward
		}
		return "You go " + dirNames[m] + ".", 0
	case m.isTake():
		e.st = lv.apply(before, m)
		return "You take the " + lv.colors[m-takeBase] + " key.", keyReward
	default:
		e.st = lv.apply(before, m)
		c := lv.colors[m-openBase]
		return "You unlock the " + c + " door with the " + c + " key. It is open now.", doorReward
	}
}

// resolve parses an action into a move that is legal now, or says why not.
func (e *Env) resolve(raw string) (move, string) {
	if len(raw) > maxActionBytes {
		return 0, fmt.Sprintf("the action is %d bytes long; the limit is %d", len(raw), maxActionBytes)
	}
	if !utf8.ValidString(raw) {
		return 0, "the action is not valid UTF-8 text"
	}
	words := strings.Fields(strings.ToLower(strings.TrimRight(strings.TrimSpace(raw), ".!")))
	words = slices.DeleteFunc(words, func(w string) bool { return w == "the" || w == "a" || w == "an" })
	if len(words) == 0 {
		return 0, `the action is empty; try "look" or one of the actions listed`
	}
	verb, args := words[0], words[1:]
	switch verb {
	case "look", "l", "inventory", "inv", "i":
		if len(args) == 0 || (len(args) == 1 && args[0] == "around") {
			return lookMove, ""
		}
	case "go", "move", "walk", "run", "head":
		if len(args) == 1 {
			if d, ok := parseDir(args[0]); ok {
				return e.goTo(d)
			}
		}
		return 0, `say where to go: "go north", "go east", "go south" or "go west"`
	case "take", "get", "grab", "pick":
		if verb == "pick" {
			if len(args) == 0 || args[0] != "up" {
				return 0, `say "pick up <colour> key" or "take <colour> key"`
			}
			args = args[1:]
		}
		return e.take(args)
	case "open", "unlock":
		return e.open(args)
	default:
		if d, ok := parseDir(verb); ok && len(args) == 0 {
			return e.goTo(d)
		}
	}
	return 0, fmt.Sprintf(`cannot understand %s; actions look like "go north", "take red key", "open red door" or "look"`, quoteShort(raw))
}

func (e *Env) goTo(d dir) (move, string) {
	lv, pos := e.lv, e.st.pos
	if lv.links[pos]&(1<<d) == 0 {
		return 0, "there is a wall to the " + dirNames[d]
	}
	if j := lv.doorAt[pos][d]; j >= 0 && e.st.open&(1<<j) == 0 {
		c := lv.colors[j]
		if e.st.held&(1<<j) != 0 {
			return 0, "the " + c + " door to the " + dirNames[d] + ` is locked; you have its key, so "open ` + c + ` door" first`
		}
		return 0, "the " + c + " door to the " + dirNames[d] + " is locked; you need the " + c + " key"
	}
	return goMove(d), ""
}

// take handles "<colour> key", "<colour>" and "key" (when one key is here).
func (e *Env) take(args []string) (move, string) {
	lv, s := e.lv, e.st
	if len(args) == 2 && args[1] == "key" || len(args) == 1 && args[0] != "key" {
		i, why := e.colour(args[0], "key")
		if why != "" {
			return 0, why
		}
		switch {
		case s.held&(1<<i) != 0:
			return 0, "you already carry the " + lv.colors[i] + " key"
		case lv.keyCell[i] != s.pos:
			return 0, "there is no " + lv.colors[i] + " key in this room"
		}
		return takeMove(i), ""
	}
	if len(args) == 1 {
		var here []move
		for _, m := range lv.moves(s, nil) {
			if m.isTake() {
				here = append(here, m)
			}
		}
		switch len(here) {
		case 0:
			return 0, "there is no key in this room"
		case 1:
			return here[0], ""
		}
		return 0, `there are several keys here; say which, e.g. "take ` + lv.colors[here[0]-takeBase] + ` key"`
	}
	return 0, `say which key to take, e.g. "take red key"`
}

// open handles "<colour> door", "<colour>", "<direction> door", "door
// <direction>" and "door" (when one locked door is next to the agent).
func (e *Env) open(args []string) (move, string) {
	lv, s := e.lv, e.st
	var j int8 = -1
	switch {
	case len(args) == 2 && args[0] == "door":
		d, ok := parseDir(args[1])
		if !ok {
			return 0, `say which door to open, e.g. "open red door" or "open north door"`
		}
		if j = lv.doorAt[s.pos][d]; j < 0 {
			return 0, "there is no door to the " + dirNames[d]
		}
	case len(args) == 2 && args[1] == "door" || len(args) == 1 && args[0] != "door":
		if d, ok := parseDir(args[0]); ok {
			if j = lv.doorAt[s.pos][d]; j < 0 {
				return 0, "there is no door to the " + dirNames[d]
			}
			break
		}
		i, why := e.colour(args[0], "door")
		if why != "" {
			return 0, why
		}
		for d := north; d <= west; d++ {
			if lv.doorAt[s.pos][d] == int8(i) {
				j = int8(i)
			}
		}
		if j < 0 {
			return 0, "there is no " + lv.colors[i] + " door next to this room"
		}
	case len(args) == 1:
		for d := north; d <= west; d++ {
			if k := lv.doorAt[s.pos][d]; k >= 0 && s.open&(1<<k) == 0 {
				if j >= 0 {
					return 0, `there are several locked doors here; say which, e.g. "open ` + lv.colors[k] + ` door"`
				}
				j = k
			}
		}
		if j < 0 {
			return 0, "there is no locked door next to this room"
		}
	default:
		return 0, `say which door to open, e.g. "open red door"`
	}
	c := lv.colors[j]
	switch {
	case s.open&(1<<j) != 0:
		return 0, "the " + c + " door is already open"
	case s.held&(1<<j) == 0:
		return 0, "the " + c + " door is locked and you do not have the " + c + " key"
	}
	return openMove(int(j)), ""
}

// colour finds the pair of a colour word, for a "key" or a "door".
func (e *Env) colour(word, thing string) (int, string) {
	for i, c := range e.lv.colors {
		if c == word {
			return i, ""
		}
	}
	return 0, fmt.Sprintf("there is no %s %s in this level (colours here: %s)", quoteShort(word), thing, strings.Join(e.lv.colors, ", "))
}

func parseDir(w string) (dir, bool) {
	switch w {
	case "north", "n":
		return north, true
	case "east", "e":
		return east, true
	case "south", "s":
		return south, true
	case "west", "w":
		return west, true
	}
	return 0, false
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		return strconv.Quote(string(r[:limit])) + "…"
	}
	return strconv.Quote(s)
}

func (e *Env) intro() string {
	lv := e.lv
	const rules = " Coloured doors are locked; each opens with the key of the same colour."
	if lv.layout == layoutCorridor {
		return "You stand at the west end of a long east-west corridor with side rooms to the north and south." +
			rules + " Find the keys, open the doors and reach the treasure at the east end."
	}
	return "You enter a maze of " + strconv.Itoa(lv.h) + " by " + strconv.Itoa(lv.w) + " rooms." +
		rules + " Find the keys, open the doors and reach the treasure."
}

// validActions lists the canonical actions that apply now, "look" last.
func (e *Env) validActions() []string {
	e.buf = e.lv.moves(e.st, e.buf[:0])
	out := make([]string, 0, len(e.buf)+1)
	for _, m := range e.buf {
		out = append(out, e.lv.actionString(m))
	}
	return append(out, "look")
}

// observe describes the current room after msg, the outcome of the last
// action.
func (e *Env) observe(msg string) gym.Observation {
	lv, s := e.lv, e.st
	valid := e.validActions()
	var b strings.Builder
	b.Grow(640)
	if msg != "" {
		b.WriteString(msg)
		b.WriteString("\n\n")
	}
	x, y := s.pos%lv.w, s.pos/lv.w
	b.WriteString("Location: row ")
	b.WriteString(strconv.Itoa(y + 1))
	b.WriteString(", column ")
	b.WriteString(strconv.Itoa(x + 1))
	b.WriteString(" (rows 1-")
	b.WriteString(strconv.Itoa(lv.h))
	b.WriteString(" run north to south, columns 1-")
	b.WriteString(strconv.Itoa(lv.w))
	b.WriteString(" west to east).\nExits:")
	var walls []string
	sep := " "
	for d := north; d <= west; d++ {
		if lv.links[s.pos]&(1<<d) == 0 {
			walls = append(walls, dirNames[d])
			continue
		}
		b.WriteString(sep)
		sep = ", "
		b.WriteString(dirNames[d])
		switch j := lv.doorAt[s.pos][d]; {
		case j < 0:
			b.WriteString(" (passage)")
		case s.open&(1<<j) != 0:
			b.WriteString(" (open " + lv.colors[j] + " door)")
		default:
			b.WriteString(" (locked " + lv.colors[j] + " door)")
		}
	}
	b.WriteString(".\n")
	if len(walls) > 0 {
		b.WriteString("Walls: " + strings.Join(walls, ", ") + ".\n")
	}
	var here, carry []string
	for i, c := range lv.keyCell {
		switch {
		case s.held&(1<<i) != 0:
			carry = append(carry, article(lv.colors[i])+" key")
		case c == s.pos:
			here = append(here, article(lv.colors[i])+" key")
		}
	}
	if len(here) > 0 {
		b.WriteString("You see here: " + strings.Join(here, ", ") + ".\n")
	} else {
		b.WriteString("You see no keys here.\n")
	}
	if len(carry) > 0 {
		b.WriteString("You carry: " + strings.Join(carry, ", ") + ".\n")
	} else {
		b.WriteString("You carry nothing.\n")
	}
	if s.pos == lv.goal {
		b.WriteString("Goal: you are in the treasure room.\n")
	} else {
		gx, gy := lv.goal%lv.w, lv.goal/lv.w
		b.WriteString("Goal: the treasure is at row ")
		b.WriteString(strconv.Itoa(gy + 1))
		b.WriteString(", column ")
		b.WriteString(strconv.Itoa(gx + 1))
		b.WriteString(": ")
		b.WriteString(offset(gx-x, gy-y))
		b.WriteString(" (as the crow flies; walls and doors may be in the way).\n")
	}
	b.WriteString("Actions: ")
	b.WriteString(strings.Join(valid, ", "))
	b.WriteString(".")
	return gym.Observation{Text: b.String(), ValidActions: valid}
}

// article prefixes a colour with "a" or "an".
func article(colour string) string {
	if strings.ContainsRune("aeiou", rune(colour[0])) {
		return "an " + colour
	}
	return "a " + colour
}

// offset says "2 rooms south and 1 room east of here".
func offset(dx, dy int) string {
	part := func(n int, pos, neg string) string {
		d := pos
		if n < 0 {
			n, d = -n, neg
		}
		if n == 1 {
			return "1 room " + d
		}
		return strconv.Itoa(n) + " rooms " + d
	}
	switch {
	case dy == 0:
		return part(dx, "east", "west") + " of here"
	case dx == 0:
		return part(dy, "south", "north") + " of here"
	}
	return part(dy, "south", "north") + " and " + part(dx, "east", "west") + " of here"
}

// ValidActions lists the canonical actions that apply in the current state.
func (e *Env) ValidActions(ctx context.Context) ([]string, error) {
	return e.validActions(), nil
}

// OracleAction returns the next action of a shortest plan to the treasure
// from the current state. The plan is kept and reused while the agent
// follows it; any other state gets a fresh search.
func (e *Env) OracleAction(ctx context.Context) (string, error) {
	if m, ok := e.oracle[e.st]; ok {
		return e.lv.actionString(m), nil
	}
	plan, states, ok := e.lv.solve(e.st)
	if !ok || len(plan) == 0 {
		// Keys are never lost and doors never close, so this is a bug.
		return "", errors.New(e.id + ": oracle: the treasure is unreachable from this state")
	}
	e.oracle = make(map[state]move, len(plan))
	for i, m := range plan {
		e.oracle[states[i]] = m
	}
	return e.lv.actionString(plan[0]), nil
}
