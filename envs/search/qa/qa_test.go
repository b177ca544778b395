package qa

import (
	"math"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"The Kelmar Institute", "kelmar institute"},
		{"  a   Cat ", "cat"},
		{"Tessaly.", "tessaly"},
		{"O'Brien-Vale", "obrienvale"},
		{"An apple, the pear", "apple pear"},
		{"1843", "1843"},
		{"", ""},
		{"THE", ""},
		{"theatre", "theatre"},
		{"Zürich", "zürich"},
		{"$5", "5"},
		{"tab\tand\nnewline", "tab and newline"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		pred   string
		golds  []string
		em, f1 float64
	}{
		{"Tessaly", []string{"tessaly"}, 1, 1},
		{"the Tessaly", []string{"Tessaly"}, 1, 1},
		{"Tessaly city", []string{"Tessaly"}, 0, 2.0 / 3},
		{"Orvania", []string{"Tessaly", "Orvania"}, 1, 1},
		{"nothing", []string{"Tessaly"}, 0, 0},
		{"", []string{"Tessaly"}, 0, 0},
		{"", []string{""}, 1, 1},
		{"Aren Voss", []string{"Voss Aren"}, 0, 1},
		{"in 1843", []string{"1843"}, 0, 2.0 / 3},
		{"x", nil, 0, 0},
	}
	for _, tt := range tests {
		em, f1 := Score(tt.pred, tt.golds)
		if em != tt.em || math.Abs(f1-tt.f1) > 1e-9 {
			t.Errorf("Score(%q, %q) = %v, %v; want %v, %v", tt.pred, tt.golds, em, f1, tt.em, tt.f1)
		}
	}
}
