package shop

import (
	"reflect"
	"strings"
	"testing"
)

func TestCatalogue(t *testing.T) {
	s := New(DefaultCatalogSeed, DefaultProducts)
	if len(s.Products()) < 500 {
		t.Fatalf("%d products, want >= 500", len(s.Products()))
	}
	// Whole products, options included, over several builds: Go starts
	// every range over a map at a random key, so a draw in map order
	// shows up here as a differing option list.
	for range 5 {
		again := New(DefaultCatalogSeed, DefaultProducts)
		if !reflect.DeepEqual(s.Products(), again.Products()) {
			t.Fatal("catalogue is not deterministic: two builds with one seed differ")
		}
	}
	for seed := int64(0); seed < 50; seed++ {
		in := s.Instruction(seed)
		p, _ := s.Product(in.Target)
		if sc := s.Score(in, Purchase{ProductID: p.ID, Options: in.Options}); sc.Reward != 1 {
			t.Fatalf("seed %d: the target scores %+v for %q", seed, sc, in.Text)
		}
		found := false
		for _, h := range s.Search(in.Query) {
			found = found || h.ID == in.Target
		}
		if !found {
			t.Fatalf("seed %d: search %q misses the target", seed, in.Query)
		}
	}
}

// TestScorePartial checks WebShop-style partial credit on hand-made cases.
func TestScorePartial(t *testing.T) {
	s := &Shop{byID: map[string]*Product{}}
	add := func(p Product) { s.products = append(s.products, p); s.byID[p.ID] = &s.products[len(s.products)-1] }
	s.products = make([]Product, 0, 8)
	add(Product{ID: "A", Title: "Red cotton tee", Category: "t-shirt", Attrs: []string{"cotton", "slim fit"}, Options: map[string][]string{"color": {"red", "blue"}, "size": {"M", "L"}}, Price: 15})
	add(Product{ID: "B", Title: "Poly tee", Category: "t-shirt", Attrs: []string{"polyester"}, Options: map[string][]string{"color": {"red"}, "size": {"M"}}, Price: 25})
	add(Product{ID: "C", Title: "Cotton socks", Category: "socks", Attrs: []string{"cotton"}, Options: map[string][]string{"color": {"red"}, "size": {"M"}}, Price: 5})
	in := Instruction{Category: "t-shirt", Attrs: []string{"cotton"}, Options: map[string]string{"color": "red", "size": "M"}, MaxPrice: 20}
	// Wanted: category + 1 attribute + 2 options + price = 5 parts.
	tests := []struct {
		name string
		pu   Purchase
		want float64
	}{
		{"everything", Purchase{"A", map[string]string{"color": "red", "size": "M"}}, 1},
		{"wrong size", Purchase{"A", map[string]string{"color": "red", "size": "L"}}, 0.8},
		{"no options chosen", Purchase{"A", nil}, 0.6},
		{"wrong material, too expensive", Purchase{"B", map[string]string{"color": "red", "size": "M"}}, 0.6},
		{"another kind of product", Purchase{"C", map[string]string{"color": "red", "size": "M"}}, 0.08},
		{"unknown product", Purchase{"Z", nil}, 0},
	}
	for _, tt := range tests {
		if got := s.Score(in, tt.pu).Reward; got != tt.want {
			t.Errorf("%s: reward %v, want %v (%+v)", tt.name, got, tt.want, s.Score(in, tt.pu))
		}
	}
}

func TestInstructionText(t *testing.T) {
	s := New(DefaultCatalogSeed, DefaultProducts)
	in := s.Instruction(7)
	if !strings.Contains(in.Text, "price lower than") || !strings.Contains(in.Text, in.Attrs[0]) {
		t.Fatalf("instruction %q", in.Text)
	}
	t.Log(in.Text)
}
