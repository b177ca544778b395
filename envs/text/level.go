package text

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
)

// dir is a compass direction; its value is also its bit in level.links.
type dir uint8

const (
	north dir = iota
	east
	south
	west
)

var (
	dirNames = [4]string{"north", "east", "south", "west"}
	dirDX    = [4]int{0, 1, 0, -1}
	dirDY    = [4]int{-1, 0, 1, 0}
)

func (d dir) opposite() dir { return (d + 2) % 4 }

// palette holds the door and key colours; their first letters differ so
// Render can draw each with one character.
var palette = [...]string{"red", "blue", "green", "yellow", "purple", "orange"}

// maxPairs bounds key/door pairs so solver states fit in an int32 index.
const maxPairs = len(palette)

type layout uint8

const (
	layoutMaze layout = iota
	layoutCorridor
)

// level is the immutable layout of one episode. Door i opens with key i,
// and both have colour colors[i]; doors are indexed in an order in which
// they can be opened, which is how generation guarantees solvability.
type level struct {
	layout  layout
	w, h    int
	inside  []bool    // false: solid rock (corridor layouts)
	links   []uint8   // bit d set: a passage, perhaps a door, leads toward d
	doorAt  [][4]int8 // door index on each side of a cell, -1 for none
	keyCell []int     // starting cell of key i
	colors  []string
	start   int
	goal    int

	// Canonical action strings, built once so Step allocates less.
	takeAction []string
	openAction []string
}

func newGrid(l layout, w, h int) *level {
	n := w * h
	lv := &level{
		layout: l, w: w, h: h,
		inside: make([]bool, n),
		links:  make([]uint8, n),
		doorAt: make([][4]int8, n),
	}
	for c := range lv.doorAt {
		lv.doorAt[c] = [4]int8{-1, -1, -1, -1}
	}
	return lv
}

func (lv *level) pairs() int { return len(lv.keyCell) }

func (lv *level) cell(x, y int) int { return y*lv.w + x }

// neighbor returns the cell next to c toward d, or -1 off the grid.
func (lv *level) neighbor(c int, d dir) int {
	x, y := c%lv.w+dirDX[d], c/lv.w+dirDY[d]
	if x < 0 || y < 0 || x >= lv.w || y >= lv.h {
		return -1
	}
	return lv.cell(x, y)
}

func (lv *level) link(c int, d dir) {
	n := lv.neighbor(c, d)
	lv.links[c] |= 1 << d
	lv.links[n] |= 1 << d.opposite()
}

// addDoor puts the next door on the passage from c toward d.
func (lv *level) addDoor(c int, d dir) int {
	i := len(lv.keyCell)
	lv.doorAt[c][d] = int8(i)
	lv.doorAt[lv.neighbor(c, d)][d.opposite()] = int8(i)
	lv.keyCell = append(lv.keyCell, -1)
	return i
}

// reachable marks the cells reachable from start through the doors in open.
func (lv *level) reachable(open uint16) []bool {
	seen := make([]bool, len(lv.links))
	seen[lv.start] = true
	queue := []int{lv.start}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for d := north; d <= west; d++ {
			if lv.links[c]&(1<<d) == 0 {
				continue
			}
			if j := lv.doorAt[c][d]; j >= 0 && open&(1<<j) == 0 {
				continue
			}
			if n := lv.neighbor(c, d); !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return seen
}

// placeKeys puts every key not yet placed where it can be fetched with
// the doors before it open and the others locked. Three times in four it
// prefers the area the previous door just opened, so keys form a chain.
func (lv *level) placeKeys(rng *rand.Rand) {
	var prev []bool
	for i := range lv.keyCell {
		reach := lv.reachable(1<<i - 1)
		if lv.keyCell[i] < 0 {
			var any, fresh []int
			for c, ok := range reach {
				if !ok || c == lv.start || slices.Contains(lv.keyCell, c) {
					continue
				}
				any = append(any, c)
				if prev != nil && !prev[c] {
					fresh = append(fresh, c)
				}
			}
			switch {
			case len(fresh) > 0 && rng.IntN(4) > 0:
				lv.keyCell[i] = fresh[rng.IntN(len(fresh))]
			case len(any) > 0:
				lv.keyCell[i] = any[rng.IntN(len(any))]
			default:
				lv.keyCell[i] = lv.start
			}
		}
		prev = reach
	}
}

// finish colours the pairs and builds their action strings.
func (lv *level) finish(rng *rand.Rand) {
	perm := rng.Perm(len(palette))
	for i := range lv.keyCell {
		c := palette[perm[i]]
		lv.colors = append(lv.colors, c)
		lv.takeAction = append(lv.takeAction, "take "+c+" key")
		lv.openAction = append(lv.openAction, "open "+c+" door")
	}
}

// generate builds the level of task t for seed. The stream is salted with
// the env id and task so tasks of one seed do not share layouts.
func generate(envID string, t *taskDef, seed int64) *level {
	h := fnv.New64a()
	h.Write([]byte(envID))
	h.Write([]byte{0})
	h.Write([]byte(t.id))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	var lv *level
	switch t.layout {
	case layoutCorridor:
		lv = genCorridor(t, rng)
	default:
		lv = genMaze(t, rng)
	}
	lv.placeKeys(rng)
	lv.finish(rng)
	return lv
}

// genMaze carves a perfect maze (randomised depth-first search), puts the
// treasure in the room farthest from the start and the doors on the one
// path between them, so every door must be opened.
func genMaze(t *taskDef, rng *rand.Rand) *level {
	lv := newGrid(layoutMaze, t.w, t.h)
	n := t.w * t.h
	for c := range lv.inside {
		lv.inside[c] = true
	}
	visited := make([]bool, n)
	first := rng.IntN(n)
	visited[first] = true
	stack := []int{first}
	var options []dir
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		options = options[:0]
		for d := north; d <= west; d++ {
			if nb := lv.neighbor(c, d); nb >= 0 && !visited[nb] {
				options = append(options, d)
			}
		}
		if len(options) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		d := options[rng.IntN(len(options))]
		nb := lv.neighbor(c, d)
		lv.link(c, d)
		visited[nb] = true
		stack = append(stack, nb)
	}

	lv.start = rng.IntN(n)
	parent := make([]int, n)
	via := make([]dir, n) // direction from parent into the cell
	dist := make([]int, n)
	for c := range dist {
		dist[c] = -1
	}
	dist[lv.start] = 0
	queue := []int{lv.start}
	lv.goal = lv.start
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if dist[c] > dist[lv.goal] {
			lv.goal = c
		}
		for d := north; d <= west; d++ {
			if lv.links[c]&(1<<d) == 0 {
				continue
			}
			if nb := lv.neighbor(c, d); dist[nb] < 0 {
				dist[nb], parent[nb], via[nb] = dist[c]+1, c, d
				queue = append(queue, nb)
			}
		}
	}

	// path[i] is the i-th room from the start; edge i joins path[i] and
	// path[i+1]. Doors skip edge 0 when they can so the first key need
	// not lie in the start room.
	path := make([]int, dist[lv.goal]+1)
	for c := lv.goal; ; c = parent[c] {
		path[dist[c]] = c
		if c == lv.start {
			break
		}
	}
	edges := len(path) - 1
	pairs := min(t.pairs, edges) // only binds on grids too small for the task
	skip := 0
	if edges-1 >= pairs {
		skip = 1
	}
	picks := rng.Perm(edges - skip)[:pairs]
	slices.Sort(picks)
	for _, e := range picks {
		next := path[e+skip+1]
		lv.addDoor(path[e+skip], via[next])
	}
	return lv
}

// genCorridor lays an east-west corridor from the start (west end) to the
// treasure (east end) with dead-end side rooms to the north and south.
// Corridor doors split it into segments; the key of each lies at the end
// of a side branch of the segment before it. When t.nested is set, that
// branch is itself locked, and its key lies somewhere already reachable.
func genCorridor(t *taskDef, rng *rand.Rand) *level {
	length, depth := t.w, t.depth
	lv := newGrid(layoutCorridor, length, 2*depth+1)
	row := depth
	for x := range length {
		lv.inside[lv.cell(x, row)] = true
		if x > 0 {
			lv.link(lv.cell(x-1, row), east)
		}
	}
	branch := make([][2]int, length) // depth of the north [0] and south [1] branch
	for x := range branch {
		branch[x] = [2]int{rng.IntN(depth + 1), rng.IntN(depth + 1)}
	}
	// Cut i is the corridor edge east of column cuts[i]; columns 0 and
	// length-1 are never cut, so every segment has a room.
	cuts := rng.Perm(length - 2)[:t.pairs]
	slices.Sort(cuts)
	type side struct{ x, s int }
	keyBranch := make([]side, t.pairs)
	lo := 0
	for i := range cuts {
		cuts[i]++
		x := lo + rng.IntN(cuts[i]-lo+1)
		s := rng.IntN(2)
		if branch[x][s] == 0 {
			branch[x][s] = 1 + rng.IntN(depth)
		}
		keyBranch[i] = side{x, s}
		lo = cuts[i] + 1
	}
	sideDir := [2]dir{north, south}
	tip := make([]int, 0, t.pairs)
	for x := range branch {
		for s, d := range branch[x] {
			c := lv.cell(x, row)
			for range d {
				lv.link(c, sideDir[s])
				c = lv.neighbor(c, sideDir[s])
				lv.inside[c] = true
			}
		}
	}
	for _, kb := range keyBranch {
		c := lv.cell(kb.x, row)
		for range branch[kb.x][kb.s] {
			c = lv.neighbor(c, sideDir[kb.s])
		}
		tip = append(tip, c)
	}
	lv.start, lv.goal = lv.cell(0, row), lv.cell(length-1, row)
	for i, kb := range keyBranch {
		if t.nested {
			lv.addDoor(lv.cell(kb.x, row), sideDir[kb.s])
		}
		j := lv.addDoor(lv.cell(cuts[i], row), east)
		lv.keyCell[j] = tip[i]
	}
	return lv
}
