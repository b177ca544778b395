package worldmodel

import (
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"unicode"
)

// dim is the number of hashed feature buckets of one text block.
const dim = 1024

// sparse is an L2-normalised (or delta) sparse vector over hashed buckets,
// indices sorted ascending.
type sparse struct {
	idx []int32
	val []float32
}

// words splits text into lower-case alphanumeric words.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func bucket(salt, s string) int32 {
	h := fnv.New32a()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return int32(h.Sum32() % dim)
}

// featurize hashes a text into unigrams, bigrams and line-keyed unigrams
// ("exits|north" differs from "walls|north"), L2-normalised.
func featurize(salt, text string) sparse {
	acc := map[int32]float32{}
	for line := range strings.SplitSeq(text, "\n") {
		ws := words(line)
		if len(ws) == 0 {
			continue
		}
		key := ws[0]
		for i, w := range ws {
			acc[bucket(salt, w)]++
			acc[bucket(salt, key+"|"+w)] += 0.5
			if i > 0 {
				acc[bucket(salt, ws[i-1]+" "+w)]++
			}
		}
	}
	return fromMap(acc, true)
}

func fromMap(acc map[int32]float32, normalise bool) sparse {
	v := sparse{idx: make([]int32, 0, len(acc)), val: make([]float32, 0, len(acc))}
	for i := range acc {
		v.idx = append(v.idx, i)
	}
	sort.Slice(v.idx, func(a, b int) bool { return v.idx[a] < v.idx[b] })
	var n float64
	for _, i := range v.idx {
		v.val = append(v.val, acc[i])
		n += float64(acc[i]) * float64(acc[i])
	}
	if normalise && n > 0 {
		s := float32(1 / math.Sqrt(n))
		for k := range v.val {
			v.val[k] *= s
		}
	}
	return v
}

// sub is a − b (not normalised).
func sub(a, b sparse) sparse {
	acc := make(map[int32]float32, len(a.idx)+len(b.idx))
	for k, i := range a.idx {
		acc[i] += a.val[k]
	}
	for k, i := range b.idx {
		acc[i] -= b.val[k]
	}
	for i, x := range acc {
		if x == 0 {
			delete(acc, i)
		}
	}
	return fromMap(acc, false)
}

// dot of two sparse vectors.
func dot(a, b sparse) float32 {
	var s float32
	i, j := 0, 0
	for i < len(a.idx) && j < len(b.idx) {
		switch {
		case a.idx[i] == b.idx[j]:
			s += a.val[i] * b.val[j]
			i++
			j++
		case a.idx[i] < b.idx[j]:
			i++
		default:
			j++
		}
	}
	return s
}

// tokenF1 is the F1 of the word multisets of pred and gold (1 when both
// are empty).
func tokenF1(pred, gold string) float64 {
	p, g := words(pred), words(gold)
	if len(p) == 0 && len(g) == 0 {
		return 1
	}
	if len(p) == 0 || len(g) == 0 {
		return 0
	}
	count := map[string]int{}
	for _, w := range g {
		count[w]++
	}
	common := 0
	for _, w := range p {
		if count[w] > 0 {
			count[w]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	prec, rec := float64(common)/float64(len(p)), float64(common)/float64(len(g))
	return 2 * prec * rec / (prec + rec)
}
