// Package qa scores free-text answers against gold answers the way SQuAD
// does: normalise (lower case, drop punctuation and the articles a/an/the,
// squeeze white space), then exact match and token-level F1, taking the
// best score over all gold answers.
package qa

import (
	"strings"
	"unicode"
)

// Normalize returns the SQuAD normal form of s.
func Normalize(s string) string {
	return strings.Join(Tokens(s), " ")
}

// Tokens returns the normalised tokens of s.
func Tokens(s string) []string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		// SQuAD removes punctuation outright (so "co-op" becomes "coop");
		// we do the same for symbols so "$5" and "5" agree.
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(r)
	}
	fields := strings.Fields(b.String())
	out := fields[:0]
	for _, f := range fields {
		switch f {
		case "a", "an", "the":
			continue
		}
		out = append(out, f)
	}
	return out
}

// ExactMatch reports whether pred and gold are equal after normalisation.
func ExactMatch(pred, gold string) bool {
	return Normalize(pred) == Normalize(gold)
}

// F1 is the token-level F1 between pred and gold after normalisation. Two
// empty answers score 1; one empty answer scores 0.
func F1(pred, gold string) float64 {
	p, g := Tokens(pred), Tokens(gold)
	if len(p) == 0 || len(g) == 0 {
		if len(p) == len(g) {
			return 1
		}
		return 0
	}
	counts := make(map[string]int, len(g))
	for _, t := range g {
		counts[t]++
	}
	common := 0
	for _, t := range p {
		if counts[t] > 0 {
			counts[t]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	precision := float64(common) / float64(len(p))
	recall := float64(common) / float64(len(g))
	return 2 * precision * recall / (precision + recall)
}

// Score returns the best exact match (0 or 1) and F1 of pred over golds.
func Score(pred string, golds []string) (em, f1 float64) {
	for _, g := range golds {
		if ExactMatch(pred, g) {
			em = 1
		}
		f1 = max(f1, F1(pred, g))
	}
	return em, f1
}
