package kb

import (
	"math/rand/v2"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis/lang/en"
)

// Invented names come from syllables, so no model has seen them: the
// answers cannot come from memory (ReSeek's FictionalHot idea).
var (
	onsets = []string{"b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "th", "tr", "v", "z", "sh", "ch", "j", "w", "sk", "pl", "gl", "fr", "qu", "y"}
	vowels = []string{"a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei", "ou", "ia", "y", "au"}
	codas  = []string{"", "", "", "n", "r", "l", "s", "th", "m", "nd", "rk", "x", "v", "sk", "lt", "rn", "ss", "ck"}

	citySuffixes    = []string{"", "", "a", "ia", "holm", "mere", "burg", "dal", "ford", "wick", "port", "stad", "ora", "en", "gate", "vale"}
	countrySuffixes = []string{"ia", "and", "ora", "esh", "ania", "avia", "eth", "mark", "ica", "oria", "une"}
	currencyNouns   = []string{"crown", "mark", "florin", "thaler", "ducat", "shilling", "dinar", "pound", "real", "sol"}
)

// nameGen draws invented words and remembers the ones taken.
type nameGen struct {
	rng   *rand.Rand
	stop  map[string]bool
	taken map[string]bool
}

func newNameGen(rng *rand.Rand) *nameGen {
	stop := map[string]bool{}
	for line := range strings.SplitSeq(string(en.EnglishStopWords), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "|" {
			stop[f[0]] = true
		}
	}
	return &nameGen{rng: rng, stop: stop, taken: map[string]bool{}}
}

func (g *nameGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// word is an invented capitalised word of n syllables.
func (g *nameGen) word(n int) string {
	for {
		var b strings.Builder
		for i := range n {
			if i > 0 || g.rng.IntN(5) > 0 {
				b.WriteString(g.pick(onsets))
			}
			b.WriteString(g.pick(vowels))
			if i == n-1 || g.rng.IntN(5) == 0 {
				b.WriteString(g.pick(codas))
			}
		}
		w := b.String()
		// Stop words would vanish from the index and the query alike.
		if len(w) < 3 || len(w) > 10 || g.stop[w] {
			continue
		}
		return strings.ToUpper(w[:1]) + w[1:]
	}
}

// pool returns n distinct invented words of 2 or 3 syllables.
func (g *nameGen) pool(n int, extra func() string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		w := g.word(2 + g.rng.IntN(2)/max(1, g.rng.IntN(3)))
		if extra != nil {
			w += extra()
		}
		if seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

// claim reserves a title; false when it is taken.
func (g *nameGen) claim(name string) bool {
	k := strings.ToLower(name)
	if g.taken[k] {
		return false
	}
	g.taken[k] = true
	return true
}

func ordinalMonth(m int) string {
	return [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}[m]
}
