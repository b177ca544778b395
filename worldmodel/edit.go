package worldmodel

import (
	"strconv"
	"strings"
)

// lineKey is what aligns lines across observations: the text before the
// first ':' when it comes early (a field such as "Location" or "Exits"),
// else the whole line.
func lineKey(line string) string {
	if i := strings.IndexByte(line, ':'); i > 0 && i <= 30 {
		return line[:i]
	}
	return line
}

// analogy edits obs the way a neighbour's observation nbObs became nbNext
// under its action: every line of nbNext that the
// neighbour kept unchanged is taken from obs (aligned by lineKey); a
// changed line is rebuilt token by token (tokens the neighbour kept come
// from obs, numbers move by the neighbour's difference, other tokens come
// from nbNext, with sub: the neighbour's action and element → ours).
// The result is a guess; the model decides whether to trust it.
func analogy(obs, nbObs, nbNext string, sub substitution) string {
	q := keyed(obs)
	o := keyed(nbObs)
	oSet := map[string]bool{}
	for _, l := range strings.Split(nbObs, "\n") {
		oSet[l] = true
	}
	nextLines := strings.Split(nbNext, "\n")
	out := make([]string, 0, len(nextLines))
	for _, l := range nextLines {
		k := lineKey(l)
		ql, qok := q[k]
		switch {
		case oSet[l] && k == l: // unkeyed line the neighbour kept
			out = append(out, l)
		case oSet[l] && qok: // a kept field: take ours
			out = append(out, ql)
		case oSet[l]:
			out = append(out, l)
		default:
			ol, ook := o[k]
			if ook && qok && k != l {
				out = append(out, tokenAnalogy(ql, ol, l))
			} else {
				out = append(out, sub.apply(l))
			}
		}
	}
	return strings.Join(out, "\n")
}

func keyed(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		k := lineKey(l)
		if _, dup := m[k]; !dup {
			m[k] = l
		}
	}
	return m
}

// tokenAnalogy rebuilds a changed line: q is ours, o the neighbour's
// before, n the neighbour's after. Lines of different shapes give n.
func tokenAnalogy(q, o, n string) string {
	qt, ot, nt := strings.Fields(q), strings.Fields(o), strings.Fields(n)
	if len(qt) != len(ot) || len(ot) != len(nt) {
		return n
	}
	out := make([]string, len(nt))
	for i := range nt {
		switch {
		case ot[i] == nt[i]:
			out[i] = qt[i]
		default:
			out[i] = nt[i]
			if a, pa, okA := number(ot[i]); okA {
				if b, pb, okB := number(nt[i]); okB && pa == pb {
					if c, pc, okC := number(qt[i]); okC && pc == pa {
						out[i] = strconv.Itoa(c+b-a) + pc
					}
				}
			}
		}
	}
	return strings.Join(out, " ")
}

// number reads a token like "3," as 3 and its trailing punctuation.
func number(tok string) (int, string, bool) {
	end := len(tok)
	for end > 0 && strings.IndexByte(".,;:)", tok[end-1]) >= 0 {
		end--
	}
	n, err := strconv.Atoi(tok[:end])
	if err != nil {
		return 0, "", false
	}
	return n, tok[end:], true
}

// patch applies the neighbour's line diff (nbObs → nbNext, by longest
// common subsequence) to obs: lines the neighbour inserted are inserted,
// lines it kept are taken from obs (aligned with nbObs by lineKey), lines
// it deleted are dropped (inserted lines go through sub), and obs's own lines with no counterpart follow
// the fate of the neighbour's next aligned line (kept at the tail when the
// neighbour kept its tail). Where analogy rebuilds the neighbour's page,
// patch keeps ours: an error banner over an unchanged page, a field that
// changed on a page the neighbour never saw.
func patch(obs, nbObs, nbNext string, sub substitution) string {
	q, a, b := strings.Split(obs, "\n"), strings.Split(nbObs, "\n"), strings.Split(nbNext, "\n")
	ab := lcs(a, b, func(s string) string { return s })
	aq := lcs(a, q, lineKey)
	qOf := make([]int, len(a)) // a index → q index, or −1
	for i := range qOf {
		qOf[i] = -1
	}
	for _, p := range aq {
		qOf[p[0]] = p[1]
	}
	out := make([]string, 0, len(b)+len(q))
	qi := 0
	flush := func(upTo int, keep bool) { // our lines before q index upTo
		for ; qi < upTo; qi++ {
			if keep {
				out = append(out, q[qi])
			}
		}
	}
	ai, bi, lastKept := 0, 0, true
	for _, p := range append(ab, [2]int{len(a), len(b)}) {
		for ; ai < p[0]; ai++ { // deleted by the neighbour
			if j := qOf[ai]; j >= qi {
				flush(j, false)
				qi = j + 1
			}
			lastKept = false
		}
		for ; bi < p[1]; bi++ { // inserted by the neighbour
			out = append(out, sub.apply(b[bi]))
		}
		if p[0] == len(a) {
			break
		}
		if j := qOf[p[0]]; j >= qi { // kept: ours
			flush(j, true)
			out = append(out, q[j])
			qi = j + 1
		}
		lastKept = true
		ai, bi = p[0]+1, p[1]+1
	}
	flush(len(q), lastKept)
	return strings.Join(out, "\n")
}

// lcs aligns x and y (equal under key) and returns the matched index
// pairs in order.
func lcs(x, y []string, key func(string) string) [][2]int {
	if len(x)*len(y) > 40_000 {
		return nil
	}
	kx, ky := make([]string, len(x)), make([]string, len(y))
	for i, s := range x {
		kx[i] = key(s)
	}
	for j, s := range y {
		ky[j] = key(s)
	}
	n, m := len(x), len(y)
	t := make([]int32, (n+1)*(m+1))
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if kx[i] == ky[j] {
				t[i*(m+1)+j] = t[(i+1)*(m+1)+j+1] + 1
			} else {
				t[i*(m+1)+j] = max(t[(i+1)*(m+1)+j], t[i*(m+1)+j+1])
			}
		}
	}
	var out [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case kx[i] == ky[j]:
			out = append(out, [2]int{i, j})
			i++
			j++
		case t[(i+1)*(m+1)+j] >= t[i*(m+1)+j+1]:
			i++
		default:
			j++
		}
	}
	return out
}
