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
// under action nbAction, for action: every line of nbNext that the
// neighbour kept unchanged is taken from obs (aligned by lineKey); a
// changed line is rebuilt token by token (tokens the neighbour kept come
// from obs, numbers move by the neighbour's difference, other tokens come
// from nbNext), and the neighbour's action text is replaced by action.
// The result is a guess; the model decides whether to trust it.
func analogy(obs, nbObs, nbNext, nbAction, action string) string {
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
				if nbAction != "" && action != "" {
					l = strings.ReplaceAll(l, nbAction, action)
				}
				out = append(out, l)
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
