// Package kb generates a fictional knowledge base: invented people,
// places, organisations and events with typed relations, written out as
// encyclopedia-style passages, plus distractor passages that share names
// and facts, and multi-hop questions (bridge and comparison, 1–4 hops)
// with gold answers and gold supporting passages.
//
// Everything is deterministic per seed (math/rand/v2 PCG) and invented,
// so a model cannot answer from memory.
package kb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/envgym/envgym/envs/search/corpus"
)

// Version changes whenever the same seed would give another corpus; it is
// part of the index cache key through the corpus hash anyway.
const Version = "1"

// Config sizes a knowledge base.
type Config struct {
	Seed uint64
	// Passages is the corpus size (default 20000, at least 500).
	Passages int
	// QuestionsPerHop is the number of questions of each hop count 1..4
	// (default 250).
	QuestionsPerHop int
}

// KB is a generated corpus with its questions.
type KB struct {
	Docs      []corpus.Doc
	Questions []corpus.Question
}

type kind uint8

const (
	kPerson kind = iota
	kOrg
	kCity
	kCountry
	kEvent
)

// entity is one node of the knowledge graph. Relation fields hold entity
// indexes, -1 for none.
type entity struct {
	kind       kind
	name       string
	year       int // person: birth; org, city: founded; event: held
	died       int // person: 0 while alive
	birthDay   int // day of year 0..335 for the birth date
	occupation string
	orgKind    string
	eventKind  string
	currency   string
	population int
	doc        int // passage index before shuffling

	birthplace, employer, founder, hq, country, capital, organiser, venue int
}

func (e *entity) article() string {
	if e.kind == kOrg || e.kind == kEvent {
		return "the " + e.name
	}
	return e.name
}

type gen struct {
	rng   *rand.Rand
	names *nameGen
	ents  []entity
	docs  []corpus.Doc
	// Indexes by kind, for sampling.
	byKind [5][]int
}

var (
	occupations = []string{"glassblower", "cartographer", "astronomer", "shipwright", "composer", "botanist", "engineer", "painter", "poet", "physician", "architect", "merchant", "bookbinder", "clockmaker", "chemist", "sculptor", "navigator", "jurist", "mathematician", "historian", "violinist", "weaver", "brewer", "geologist", "printer", "actor", "diplomat", "surveyor", "philosopher", "novelist", "banker", "linguist", "mountaineer", "photographer", "inventor", "librarian", "theologian", "economist", "zoologist", "lighthouse keeper"}
	orgKinds    = []string{"Institute", "Shipping Company", "Conservatory", "Observatory", "Press", "Bank", "Trading House", "Football Club", "Orchestra", "Theatre Company", "Brewery", "Railway", "Academy of Sciences", "Mining Company", "Glassworks", "Museum", "Botanical Society", "Clockworks", "Gazette", "Rowing Club", "Guild of Surveyors", "Printing House", "Foundry", "Library"}
	eventKinds  = []string{"Lantern Festival", "Congress", "Regatta", "Exhibition", "Fair", "Chess Tournament", "Music Festival", "Summit", "Games", "Carnival", "Symposium", "Harvest Market", "Poetry Contest", "Horse Race", "Flower Show"}
	regions     = []string{"the northern archipelago", "the eastern steppe", "the western highlands", "the southern lowlands", "the inner sea basin", "the central plateau", "the far coast", "the river delta"}
	products    = []string{"glass", "wool", "salt", "clocks", "paper", "copper", "amber", "silk", "timber", "cheese", "dyes", "maps", "bells", "rope", "tin"}
	works       = []string{"a treatise on", "a long study of", "an early survey of", "a celebrated essay on", "a three-volume history of", "a manual of", "a reform of", "a collection of letters about"}
	topics      = []string{"tides", "bell founding", "river trade", "star charts", "dyeing", "mountain passes", "harbour law", "winter crops", "lens grinding", "canal locks", "folk songs", "weights and measures", "coinage", "bridge building", "bird migration", "mineral springs"}
)

// Generate builds a knowledge base from cfg.
func Generate(cfg Config) (*KB, error) {
	if cfg.Passages == 0 {
		cfg.Passages = 20000
	}
	if cfg.Passages < 500 {
		return nil, fmt.Errorf("kb: %d passages is too small (at least 500)", cfg.Passages)
	}
	if cfg.QuestionsPerHop == 0 {
		cfg.QuestionsPerHop = 250
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ea7c4))
	g := &gen{rng: rng, names: newNameGen(rng)}
	g.entities(cfg.Passages)
	for i := range g.ents {
		g.ents[i].doc = len(g.docs)
		g.docs = append(g.docs, g.passage(i))
	}
	g.distractors(cfg.Passages)
	qs := g.questions(cfg.QuestionsPerHop)

	// Shuffle passage ids so an id says nothing about the passage kind.
	perm := rng.Perm(len(g.docs))
	width := len(fmt.Sprint(len(g.docs) - 1))
	ids := make([]string, len(g.docs))
	docs := make([]corpus.Doc, len(g.docs))
	for i, d := range g.docs {
		ids[i] = fmt.Sprintf("d%0*d", width, perm[i])
		d.ID = ids[i]
		docs[perm[i]] = d
	}
	out := make([]corpus.Question, len(qs))
	for qi, q := range qs {
		out[qi] = corpus.Question{
			ID:       fmt.Sprintf("q%04d", qi),
			Question: q.text, Answers: q.answers, Hops: len(q.support), Kind: q.kind,
		}
		for _, e := range q.support {
			out[qi].SupportingIDs = append(out[qi].SupportingIDs, ids[g.ents[e].doc])
			out[qi].Queries = append(out[qi].Queries, g.ents[e].name)
		}
	}
	return &KB{Docs: docs, Questions: out}, nil
}

func (g *gen) add(e entity) int {
	e.birthplace, e.employer, e.founder, e.hq = -1, -1, -1, -1
	e.country, e.capital, e.organiser, e.venue = -1, -1, -1, -1
	g.ents = append(g.ents, e)
	i := len(g.ents) - 1
	g.byKind[e.kind] = append(g.byKind[e.kind], i)
	return i
}

func (g *gen) unique(f func() string) string {
	for {
		if n := f(); g.names.claim(n) {
			return n
		}
	}
}

// entities makes about 73% of the passages' worth of entities; the rest
// of the corpus is distractors.
func (g *gen) entities(passages int) {
	r, ng := g.rng, g.names
	nCountry := max(8, passages/250)
	nCity := max(40, passages/25)
	nPerson := passages * 42 / 100
	nOrg := passages / 6
	nEvent := passages / 10

	// Small pools of given and family names, so people share names.
	given := ng.pool(200+nPerson/100, nil)
	family := ng.pool(max(150, nPerson/3), nil)

	for range nCountry {
		i := g.add(entity{kind: kCountry, name: g.unique(func() string { return ng.word(2) + ng.pick(countrySuffixes) })})
		g.ents[i].currency = ng.word(1+r.IntN(2)) + " " + ng.pick(currencyNouns)
	}
	countries := g.byKind[kCountry]
	for c := range nCity {
		i := g.add(entity{kind: kCity, name: g.unique(func() string { return ng.word(2) + ng.pick(citySuffixes) }),
			year: 700 + r.IntN(900), population: 2000 + r.IntN(900000)})
		co := countries[c%len(countries)]
		g.ents[i].country = co
		if g.ents[co].capital < 0 {
			g.ents[co].capital = i
		}
	}
	cities := g.byKind[kCity]
	for range nPerson {
		i := g.add(entity{kind: kPerson, name: g.unique(func() string { return ng.pick(given) + " " + ng.pick(family) }),
			year: 1720 + r.IntN(230), birthDay: r.IntN(336), occupation: ng.pick(occupations)})
		e := &g.ents[i]
		e.birthplace = cities[r.IntN(len(cities))]
		if r.IntN(3) > 0 && e.year < 1930 {
			e.died = e.year + 30 + r.IntN(60)
		}
	}
	people := g.byKind[kPerson]
	for range nOrg {
		founder := people[r.IntN(len(people))]
		fe := g.ents[founder]
		kindName := ng.pick(orgKinds)
		hq := cities[r.IntN(len(cities))]
		if r.IntN(3) == 0 {
			hq = fe.birthplace
		}
		name := g.unique(func() string {
			// Stems shared with people and places make good distractors.
			var stem string
			switch r.IntN(3) {
			case 0:
				stem = strings.Fields(g.ents[founder].name)[1]
			case 1:
				stem = g.ents[cities[r.IntN(len(cities))]].name
			default:
				stem = ng.word(2)
			}
			return stem + " " + kindName
		})
		i := g.add(entity{kind: kOrg, name: name, orgKind: kindName, year: fe.year + 20 + r.IntN(40)})
		g.ents[i].founder, g.ents[i].hq = founder, hq
	}
	orgs := g.byKind[kOrg]
	for _, p := range people {
		if r.IntN(10) < 7 {
			g.ents[p].employer = orgs[r.IntN(len(orgs))]
		}
	}
	for range nEvent {
		org := orgs[r.IntN(len(orgs))]
		venue := cities[r.IntN(len(cities))]
		if r.IntN(5) < 2 {
			venue = g.ents[org].hq
		}
		ek := ng.pick(eventKinds)
		name := g.unique(func() string {
			if r.IntN(2) == 0 {
				return g.ents[cities[r.IntN(len(cities))]].name + " " + ek
			}
			return ng.word(2) + " " + ek
		})
		i := g.add(entity{kind: kEvent, name: name, eventKind: ek, year: min(2024, g.ents[org].year+1+r.IntN(90))})
		g.ents[i].organiser, g.ents[i].venue = org, venue
	}
}

func (g *gen) birthDate(e *entity) string {
	return fmt.Sprintf("%d %s %d", e.birthDay%28+1, ordinalMonth(e.birthDay/28), e.year)
}

// a prefixes the indefinite article.
func a(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func surname(name string) string { return name[strings.LastIndexByte(name, ' ')+1:] }

// passage writes entity i's encyclopedia article. It names only the
// entity's direct relations, never second-order facts, so a bridge
// question really needs every hop.
func (g *gen) passage(i int) corpus.Doc {
	r, e := g.rng, &g.ents[i]
	var b strings.Builder
	name := func(j int) string { return g.ents[j].name }
	switch e.kind {
	case kPerson:
		sn := surname(e.name)
		if e.died > 0 {
			fmt.Fprintf(&b, "%s (%s – %d) was %s born in %s.", e.name, g.birthDate(e), e.died, a(e.occupation), name(e.birthplace))
		} else if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "%s (born %s in %s) is %s.", e.name, g.birthDate(e), name(e.birthplace), a(e.occupation))
		} else {
			fmt.Fprintf(&b, "%s is %s. %s was born on %s in %s.", e.name, a(e.occupation), sn, g.birthDate(e), name(e.birthplace))
		}
		if e.employer >= 0 {
			switch r.IntN(3) {
			case 0:
				fmt.Fprintf(&b, " %s worked for %s for %d years.", sn, g.ents[e.employer].article(), 3+r.IntN(30))
			case 1:
				fmt.Fprintf(&b, " In %d %s joined %s.", e.year+18+r.IntN(20), sn, g.ents[e.employer].article())
			default:
				fmt.Fprintf(&b, " For most of a long career %s was employed by %s.", sn, g.ents[e.employer].article())
			}
		}
		fmt.Fprintf(&b, " %s is best known for %s %s.", sn, g.names.pick(works), g.names.pick(topics))
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, " Contemporaries described %s as patient and exacting, and several pupils went on to careers of their own.", sn)
		}
	case kOrg:
		fmt.Fprintf(&b, "The %s is %s headquartered in %s. It was founded in %d by %s.", e.name, a(strings.ToLower(e.orgKind)), name(e.hq), e.year, name(e.founder))
		fmt.Fprintf(&b, " Today it employs around %d people", 20+r.IntN(3000))
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, ", and its archive holds more than %d documents on %s.", 1000+r.IntN(90000), g.names.pick(topics))
		} else {
			b.WriteString(".")
		}
		b.WriteString(" Its early years were marked by disputes over funding and by a fire that destroyed the first building.")
	case kCity:
		fmt.Fprintf(&b, "%s is a city in %s. Founded in %d, it had a population of %d at the last census.", e.name, name(e.country), e.year, e.population)
		if g.ents[e.country].capital == i {
			fmt.Fprintf(&b, " It is the capital of %s.", name(e.country))
		}
		fmt.Fprintf(&b, " The city is known for its %s and for a market square laid out in the old style.", g.names.pick(products))
	case kCountry:
		fmt.Fprintf(&b, "%s is a country in %s. Its capital is %s, and its currency is the %s.", e.name, g.names.pick(regions), name(e.capital), e.currency)
		fmt.Fprintf(&b, " The country exports %s and %s, and is governed by an elected council.", g.names.pick(products), g.names.pick(products))
	case kEvent:
		fmt.Fprintf(&b, "The %s was %s held in %s in %d. It was organised by %s.", e.name, a(strings.ToLower(e.eventKind)), name(e.venue), e.year, g.ents[e.organiser].article())
		fmt.Fprintf(&b, " Around %d visitors attended, and the programme ran for %d days.", 300+r.IntN(50000), 2+r.IntN(12))
	}
	return corpus.Doc{Title: e.name, Text: b.String()}
}

// distractors fills the corpus up to the target with passages that share
// names and facts with the articles: surname pages, lists of people from a
// city, people associated with an organisation, chronicles of a year.
func (g *gen) distractors(passages int) {
	r := g.rng
	type group struct {
		title, intro string
		members      []int
	}
	var groups []group
	// Surnames shared by several people.
	bySurname := map[string][]int{}
	var surnames []string
	for _, p := range g.byKind[kPerson] {
		s := surname(g.ents[p].name)
		if bySurname[s] == nil {
			surnames = append(surnames, s)
		}
		bySurname[s] = append(bySurname[s], p)
	}
	for _, s := range surnames {
		if len(bySurname[s]) > 1 {
			groups = append(groups, group{s + " (surname)", s + " is a surname. Notable people with the surname include", bySurname[s]})
		}
	}
	natives := make([][]int, len(g.ents))
	staff := make([][]int, len(g.ents))
	for _, p := range g.byKind[kPerson] {
		natives[g.ents[p].birthplace] = append(natives[g.ents[p].birthplace], p)
		if emp := g.ents[p].employer; emp >= 0 {
			staff[emp] = append(staff[emp], p)
		}
	}
	for _, c := range g.byKind[kCity] {
		if len(natives[c]) > 1 {
			groups = append(groups, group{"People from " + g.ents[c].name, "People born in " + g.ents[c].name + " include", natives[c]})
		}
	}
	for _, o := range g.byKind[kOrg] {
		if len(staff[o]) > 1 {
			groups = append(groups, group{"People of the " + g.ents[o].name, "People who worked for the " + g.ents[o].name + " include", staff[o]})
		}
	}
	byYear := map[int][]int{}
	var years []int
	for _, k := range []kind{kOrg, kEvent} {
		for _, x := range g.byKind[k] {
			y := g.ents[x].year
			if byYear[y] == nil {
				years = append(years, y)
			}
			byYear[y] = append(byYear[y], x)
		}
	}
	slices.Sort(years)
	for _, y := range years {
		if len(byYear[y]) > 1 {
			groups = append(groups, group{fmt.Sprintf("%d in the chronicles", y), fmt.Sprintf("Among the events recorded for %d are", y), byYear[y]})
		}
	}
	if len(groups) == 0 {
		return
	}
	r.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	roman := []string{"", " (II)", " (III)", " (IV)", " (V)", " (VI)", " (VII)", " (VIII)"}
	for round := 0; len(g.docs) < passages; round++ {
		for _, gr := range groups {
			if len(g.docs) >= passages {
				return
			}
			var b strings.Builder
			b.WriteString(gr.intro)
			n := min(len(gr.members), 3+r.IntN(4))
			for k, m := range pickN(r, gr.members, n) {
				e := &g.ents[m]
				sep := ","
				if k == 0 {
					sep = ""
				} else if k == n-1 {
					sep = " and"
				}
				switch e.kind {
				case kPerson:
					fmt.Fprintf(&b, "%s %s (born %d), %s", sep, e.name, e.year, a(e.occupation))
				case kOrg:
					fmt.Fprintf(&b, "%s the founding of the %s", sep, e.name)
				case kEvent:
					fmt.Fprintf(&b, "%s the %s in %s", sep, e.name, g.ents[e.venue].name)
				}
			}
			b.WriteString(". The list is incomplete, and several entries rest on a single record.")
			suffix := roman[min(round, len(roman)-1)]
			if round >= len(roman)-1 {
				suffix = fmt.Sprintf(" (part %d)", round+1)
			}
			g.docs = append(g.docs, corpus.Doc{Title: gr.title + suffix, Text: b.String()})
		}
	}
}

// pickN returns n members of xs in a random order, without repeats.
func pickN(r *rand.Rand, xs []int, n int) []int {
	idx := r.Perm(len(xs))[:n]
	out := make([]int, n)
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}
