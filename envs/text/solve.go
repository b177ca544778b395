package text

// state is the part of an episode that changes: where the agent is, which
// keys it holds and which doors are open (bit i for pair i).
type state struct {
	pos  int
	held uint16
	open uint16
}

// move is an executable action: 0-3 go in a direction, takeBase+i take
// key i, openBase+i open door i.
type move uint8

const (
	takeBase move = 8
	openBase move = 16
)

func goMove(d dir) move     { return move(d) }
func takeMove(i int) move   { return takeBase + move(i) }
func openMove(i int) move   { return openBase + move(i) }
func (m move) isGo() bool   { return m <= move(west) }
func (m move) isTake() bool { return m >= takeBase && m < openBase }

// moves appends the moves legal in s, in the order ValidActions lists them.
func (lv *level) moves(s state, out []move) []move {
	for d := north; d <= west; d++ {
		if lv.links[s.pos]&(1<<d) == 0 {
			continue
		}
		if j := lv.doorAt[s.pos][d]; j < 0 || s.open&(1<<j) != 0 {
			out = append(out, goMove(d))
		}
	}
	for i, c := range lv.keyCell {
		if c == s.pos && s.held&(1<<i) == 0 {
			out = append(out, takeMove(i))
		}
	}
	for d := north; d <= west; d++ {
		if j := lv.doorAt[s.pos][d]; j >= 0 && s.open&(1<<j) == 0 && s.held&(1<<j) != 0 {
			out = append(out, openMove(int(j)))
		}
	}
	return out
}

// apply returns the state after m, which must be legal in s.
func (lv *level) apply(s state, m move) state {
	switch {
	case m.isGo():
		s.pos = lv.neighbor(s.pos, dir(m))
	case m.isTake():
		s.held |= 1 << (m - takeBase)
	default:
		s.open |= 1 << (m - openBase)
	}
	return s
}

func (lv *level) actionString(m move) string {
	switch {
	case m.isGo():
		return goActions[m]
	case m.isTake():
		return lv.takeAction[m-takeBase]
	default:
		return lv.openAction[m-openBase]
	}
}

var goActions = [4]string{"go north", "go east", "go south", "go west"}

// solve returns a shortest plan from s to the treasure by breadth-first
// search over (room, keys held, doors open), with the state before each
// move, or ok=false when the treasure cannot be reached.
func (lv *level) solve(s state) (plan []move, states []state, ok bool) {
	p := uint(lv.pairs())
	mask := uint16(1)<<p - 1
	encode := func(s state) int32 { return int32(s.pos)<<(2*p) | int32(s.held)<<p | int32(s.open) }
	decode := func(v int32) state {
		return state{pos: int(v >> (2 * p)), held: uint16(v>>p) & mask, open: uint16(v) & mask}
	}
	n := len(lv.links) << (2 * p)
	prev := make([]int32, n) // predecessor + 1; 0 means not seen
	how := make([]move, n)
	from := encode(s)
	prev[from] = from + 1
	queue := []int32{from}
	var buf []move
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		cur := decode(v)
		if cur.pos == lv.goal {
			for ; v != from; v = prev[v] - 1 {
				plan = append(plan, how[v])
				states = append(states, decode(prev[v]-1))
			}
			for i, j := 0, len(plan)-1; i < j; i, j = i+1, j-1 {
				plan[i], plan[j] = plan[j], plan[i]
				states[i], states[j] = states[j], states[i]
			}
			return plan, states, true
		}
		buf = lv.moves(cur, buf[:0])
		for _, m := range buf {
			w := encode(lv.apply(cur, m))
			if prev[w] == 0 {
				prev[w] = v + 1
				how[w] = m
				queue = append(queue, w)
			}
		}
	}
	return nil, nil, false
}
