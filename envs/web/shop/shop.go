// Package shop is a WebShop-like store served from memory: a seeded
// catalogue, instructions with attributes, options and a price limit,
// server-rendered pages (search, paged results, product, options, buy) and
// WebShop-style partial-credit scoring of purchases.
package shop

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Catalogue defaults used by the web/shop-v0 env.
const (
	DefaultCatalogSeed = 1
	DefaultProducts    = 600
	PageSize           = 10
)

// Product is one catalogue item.
type Product struct {
	ID       string
	Title    string
	Category string
	Attrs    []string            // e.g. "cotton", "organic", "slim fit"
	Options  map[string][]string // option name ("color", "size") → values
	Price    float64
}

// Instruction is what the customer asks for.
type Instruction struct {
	Text     string
	Category string            // required, counted as an attribute
	Attrs    []string          // required attributes
	Options  map[string]string // required option values
	MaxPrice float64
	Target   string // a product that satisfies everything (for the oracle)
	Query    string // a good search query (for the oracle)
}

// Purchase is what the agent bought.
type Purchase struct {
	ProductID string
	Options   map[string]string
}

// Score is a purchase's reward and its parts.
type Score struct {
	Reward       float64 `json:"reward"`
	AttrsMet     int     `json:"attrs_met"`
	AttrsWanted  int     `json:"attrs_wanted"`
	OptionsMet   int     `json:"options_met"`
	OptionsWant  int     `json:"options_wanted"`
	PriceOK      bool    `json:"price_ok"`
	CategoryOK   bool    `json:"category_ok"`
	ProductTitle string  `json:"product"`
}

type category struct {
	name    string
	noun    string
	attrs   []string
	options map[string][]string
	price   [2]float64
}

var categories = []category{
	{"t-shirt", "T-Shirt", []string{"cotton", "polyester", "organic", "slim fit", "v-neck", "long sleeve"}, map[string][]string{"color": {"red", "blue", "black", "white", "green"}, "size": {"S", "M", "L", "XL"}}, [2]float64{8, 35}},
	{"hoodie", "Hoodie", []string{"fleece", "cotton", "zip-up", "oversized", "water resistant"}, map[string][]string{"color": {"grey", "black", "navy", "red"}, "size": {"S", "M", "L", "XL"}}, [2]float64{20, 70}},
	{"jeans", "Jeans", []string{"denim", "stretch", "slim fit", "relaxed fit", "high waist"}, map[string][]string{"color": {"blue", "black", "grey"}, "size": {"28", "30", "32", "34", "36"}}, [2]float64{25, 90}},
	{"sneakers", "Sneakers", []string{"leather", "canvas", "running", "waterproof", "lightweight"}, map[string][]string{"color": {"white", "black", "red", "blue"}, "size": {"7", "8", "9", "10", "11"}}, [2]float64{30, 150}},
	{"backpack", "Backpack", []string{"waterproof", "laptop sleeve", "nylon", "leather", "lightweight"}, map[string][]string{"color": {"black", "green", "grey", "brown"}}, [2]float64{15, 120}},
	{"mug", "Mug", []string{"ceramic", "insulated", "stainless steel", "dishwasher safe", "large"}, map[string][]string{"color": {"white", "black", "blue"}, "capacity": {"12 oz", "16 oz", "20 oz"}}, [2]float64{6, 40}},
	{"headphones", "Headphones", []string{"wireless", "noise cancelling", "over-ear", "in-ear", "bluetooth"}, map[string][]string{"color": {"black", "white", "silver"}}, [2]float64{15, 300}},
	{"lamp", "Desk Lamp", []string{"led", "dimmable", "usb charging", "adjustable", "metal"}, map[string][]string{"color": {"black", "white", "gold"}}, [2]float64{12, 80}},
	{"socks", "Socks", []string{"wool", "cotton", "ankle", "compression", "pack of 6"}, map[string][]string{"color": {"black", "white", "grey", "multicolor"}, "size": {"S", "M", "L"}}, [2]float64{5, 25}},
	{"jacket", "Jacket", []string{"waterproof", "down", "windproof", "hooded", "packable"}, map[string][]string{"color": {"black", "navy", "olive", "red"}, "size": {"S", "M", "L", "XL"}}, [2]float64{40, 250}},
}

var brands = strings.Fields("Acme Northwind Contoso Fabrikam Globex Initech Umbrella Stark Wayne Tyrell Hooli Vandelay Soylent Cyberdyne Aperture")

// Shop is a catalogue and its sessions. Safe for concurrent use.
type Shop struct {
	products []Product
	byID     map[string]*Product
	index    []map[string]bool // tokens per product

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	instr    Instruction
	purchase *Purchase
}

// New generates a catalogue of n products from seed.
func New(seed int64, n int) *Shop {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	s := &Shop{byID: map[string]*Product{}, sessions: map[string]*session{}}
	for i := 0; i < n; i++ {
		c := categories[r.IntN(len(categories))]
		k := 1 + r.IntN(3)
		attrs := pickN(r, c.attrs, k)
		opts := map[string][]string{}
		// Sorted names: ranging over the map would draw the options in a
		// different order in every process, so the same seed gave another
		// catalogue (and replays differed).
		for _, name := range slices.Sorted(maps.Keys(c.options)) {
			vals := c.options[name]
			m := 2 + r.IntN(len(vals)-1)
			v := pickN(r, vals, m)
			sortLike(v, vals)
			opts[name] = v
		}
		price := math.Round((c.price[0]+r.Float64()*(c.price[1]-c.price[0]))*100) / 100
		brand := brands[r.IntN(len(brands))]
		title := fmt.Sprintf("%s %s %s", brand, titleCase(strings.Join(attrs, " ")), c.noun)
		p := Product{ID: fmt.Sprintf("B%05d", 1000+i*7), Title: title, Category: c.name, Attrs: attrs, Options: opts, Price: price}
		s.products = append(s.products, p)
	}
	for i := range s.products {
		p := &s.products[i]
		s.byID[p.ID] = p
		toks := map[string]bool{}
		for _, w := range tokens(p.Title + " " + p.Category + " " + strings.Join(p.Attrs, " ")) {
			toks[w] = true
		}
		for _, vals := range p.Options {
			for _, v := range vals {
				for _, w := range tokens(v) {
					toks[w] = true
				}
			}
		}
		s.index = append(s.index, toks)
	}
	return s
}

// Products is the catalogue.
func (s *Shop) Products() []Product { return s.products }

// Product looks a product up by id.
func (s *Shop) Product(id string) (*Product, bool) { p, ok := s.byID[id]; return p, ok }

// Instruction draws the instruction of episode seed: a real product's
// category, some of its attributes and options, and a price limit above
// its price.
func (s *Shop) Instruction(seed int64) Instruction {
	r := rand.New(rand.NewPCG(uint64(seed), 0x1257))
	p := &s.products[r.IntN(len(s.products))]
	in := Instruction{Category: p.Category, Options: map[string]string{}, Target: p.ID}
	in.Attrs = pickN(r, p.Attrs, 1+r.IntN(min(2, len(p.Attrs))))
	names := make([]string, 0, len(p.Options))
	for n := range p.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vals := p.Options[n]
		in.Options[n] = vals[r.IntN(len(vals))]
	}
	in.MaxPrice = math.Ceil(p.Price*(1.1+r.Float64()*0.5)/5) * 5
	noun := p.Category
	var opt []string
	for _, n := range names {
		if n == "color" {
			continue
		}
		opt = append(opt, fmt.Sprintf("%s %s", n, in.Options[n]))
	}
	color := ""
	if c, ok := in.Options["color"]; ok {
		color = c + " "
	}
	in.Text = fmt.Sprintf("I am looking for a %s%s %s", color, strings.Join(in.Attrs, " "), noun)
	if len(opt) > 0 {
		in.Text += ", " + strings.Join(opt, ", ")
	}
	in.Text += fmt.Sprintf(", and price lower than %.2f dollars", in.MaxPrice)
	in.Query = strings.Join(in.Attrs, " ") + " " + noun
	return in
}

// Score rates a purchase against an instruction, as WebShop does: the
// fraction of required attributes (the category counts as one), options
// and the price limit that the purchase meets.
func (s *Shop) Score(in Instruction, pu Purchase) Score {
	sc := Score{AttrsWanted: len(in.Attrs) + 1, OptionsWant: len(in.Options)}
	p, ok := s.byID[pu.ProductID]
	if !ok {
		return sc
	}
	sc.ProductTitle = p.Title
	if p.Category == in.Category {
		sc.CategoryOK = true
		sc.AttrsMet++
	}
	for _, a := range in.Attrs {
		if slices.Contains(p.Attrs, a) {
			sc.AttrsMet++
		}
	}
	for n, v := range in.Options {
		if strings.EqualFold(pu.Options[n], v) {
			sc.OptionsMet++
		}
	}
	sc.PriceOK = p.Price <= in.MaxPrice
	met := sc.AttrsMet + sc.OptionsMet
	if sc.PriceOK {
		met++
	}
	sc.Reward = float64(met) / float64(sc.AttrsWanted+sc.OptionsWant+1)
	if !sc.CategoryOK {
		// A product of another kind is no answer at all, however many
		// generic attributes it shares.
		sc.Reward *= 0.1
	}
	sc.Reward = math.Round(sc.Reward*1000) / 1000
	return sc
}

// Search ranks products by how many query tokens they match, then by id.
func (s *Shop) Search(q string) []*Product {
	qt := tokens(q)
	type hit struct {
		p *Product
		n int
	}
	var hits []hit
	for i, toks := range s.index {
		n := 0
		for _, w := range qt {
			if toks[w] {
				n++
			}
		}
		if n > 0 {
			hits = append(hits, hit{&s.products[i], n})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].n > hits[j].n })
	out := make([]*Product, len(hits))
	for i, h := range hits {
		out[i] = h.p
	}
	return out
}

// StartSession opens session id for the instruction of seed.
func (s *Shop) StartSession(id string, seed int64) Instruction {
	in := s.Instruction(seed)
	s.mu.Lock()
	s.sessions[id] = &session{instr: in}
	s.mu.Unlock()
	return in
}

// EndSession forgets session id.
func (s *Shop) EndSession(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// Purchased returns the purchase of session id, if any.
func (s *Shop) Purchased(id string) (Purchase, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.sessions[id]; ok && ss.purchase != nil {
		return *ss.purchase, true
	}
	return Purchase{}, false
}

func (s *Shop) session(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	return ss, ok
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

func pickN(r *rand.Rand, l []string, n int) []string {
	idx := r.Perm(len(l))[:n]
	sort.Ints(idx)
	out := make([]string, n)
	for i, j := range idx {
		out[i] = l[j]
	}
	return out
}

// sortLike orders v as the values appear in ref (sizes stay S, M, L).
func sortLike(v, ref []string) {
	sort.Slice(v, func(i, j int) bool { return slices.Index(ref, v[i]) < slices.Index(ref, v[j]) })
}

func titleCase(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		f[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(f, " ")
}
