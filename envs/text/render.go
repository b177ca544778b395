package text

import (
	"context"
	"strconv"
	"strings"
	"unicode"
)

// Render draws the level as ASCII for people: rooms are three characters
// wide, walls are +, - and |, and the legend names the symbols.
func (e *Env) Render(ctx context.Context) (string, error) {
	lv, s := e.lv, e.st
	var b strings.Builder
	// doorMark is the door letter: upper case locked, lower case open.
	doorMark := func(c int, d dir) (byte, bool) {
		j := lv.doorAt[c][d]
		if j < 0 {
			return 0, false
		}
		ch := lv.colors[j][0]
		if s.open&(1<<j) == 0 {
			ch = byte(unicode.ToUpper(rune(ch)))
		}
		return ch, true
	}
	for y := range lv.h {
		for x := range lv.w {
			c := lv.cell(x, y)
			b.WriteByte('+')
			switch ch, door := doorMark(c, north); {
			case door:
				b.WriteString("-" + string(ch) + "-")
			case lv.links[c]&(1<<north) != 0:
				b.WriteString("   ")
			default:
				b.WriteString("---")
			}
		}
		b.WriteString("+\n")
		for x := range lv.w {
			c := lv.cell(x, y)
			switch ch, door := doorMark(c, west); {
			case door:
				b.WriteByte(ch)
			case lv.links[c]&(1<<west) != 0:
				b.WriteByte(' ')
			default:
				b.WriteByte('|')
			}
			b.WriteString(e.roomMarks(c))
		}
		b.WriteString("|\n")
	}
	b.WriteString(strings.Repeat("+---", lv.w) + "+\n")
	b.WriteString("@ you, * treasure, # rock, r red key; in a wall: R locked red door, r open red door.\n")
	b.WriteString("Task " + e.task.id + ", seed " + strconv.FormatInt(e.seed, 10) +
		", step " + strconv.Itoa(e.steps) + "/" + strconv.Itoa(e.maxSteps()) + ".")
	if e.success {
		b.WriteString(" Treasure reached.")
	} else if e.done {
		b.WriteString(" Out of steps.")
	}
	return b.String(), nil
}

// roomMarks is the three-character content of room c.
func (e *Env) roomMarks(c int) string {
	lv, s := e.lv, e.st
	if !lv.inside[c] {
		return "###"
	}
	marks := make([]byte, 0, 4)
	if s.pos == c {
		marks = append(marks, '@')
	}
	if lv.goal == c {
		marks = append(marks, '*')
	}
	for i, k := range lv.keyCell {
		if k == c && s.held&(1<<i) == 0 {
			marks = append(marks, lv.colors[i][0])
		}
	}
	switch len(marks) {
	case 0:
		return "   "
	case 1:
		return " " + string(marks) + " "
	case 2:
		return string(marks) + " "
	}
	return string(marks[:3])
}
