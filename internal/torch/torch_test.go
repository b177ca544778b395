package torch

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestSetupFixesThreadsAndSeed: Setup fixes libtorch's and OpenBLAS's
// thread counts, and the same seed draws the same numbers.
func TestSetupFixesThreadsAndSeed(t *testing.T) {
	draw := func(threads int) []float64 {
		var out []float64
		err := OnThread("test", func() error {
			if _, err := Setup(7, threads); err != nil {
				return err
			}
			if n := ts.GetNumThreads(); n != threads {
				t.Errorf("libtorch threads %d, want %d", n, threads)
			}
			if n := BLASThreads(); n != threads {
				t.Errorf("OpenBLAS threads %d, want %d (is libopenblas0-pthread installed?)", n, threads)
			}
			out = ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU).Float64Values(true)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := draw(1), draw(2)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 drew %v, then %v", a, b)
		}
	}
}
