// Package stats holds the summary statistics benchmarks report, defined
// once so every figure of the same name means the same thing.
package stats

import (
	"cmp"
	"slices"
)

// Percentile returns the p-th percentile (0 to 100) of xs by nearest rank
// from below: xs sorted, the element at index floor(p/100 × (n−1)), so
// p 0 is the minimum, p 100 the maximum and p 50 of an even count the
// lower middle. It is zero for no values; xs is not modified.
func Percentile[T cmp.Ordered](xs []T, p float64) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	p = min(max(p, 0), 100)
	return s[int(p/100*float64(len(s)-1))]
}
