package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 101)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Microsecond // reversed: must be sorted
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 0}, {50, 50 * time.Microsecond}, {99, 99 * time.Microsecond}, {100, 100 * time.Microsecond}, {150, 100 * time.Microsecond}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100*time.Microsecond {
		t.Error("Percentile sorted its input")
	}
	if got := Percentile([]float64{4, 1, 3, 2}, 50); got != 2 {
		t.Errorf("p50 of 1..4 = %v, want the lower middle 2", got)
	}
	if got := Percentile[float64](nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}
