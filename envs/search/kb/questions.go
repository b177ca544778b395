package kb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/search/qa"
)

// draft is a question before passage ids are assigned.
type draft struct {
	text    string
	answers []string
	support []int // entities whose articles are the gold passages, in hop order
	kind    string
}

// relation is a typed edge of the knowledge graph as the questions phrase
// it: np names the target given a noun phrase for the source ("the founder
// of %s"), ask asks for the target's name.
type relation struct {
	from   kind
	target func(e *entity) int
	np     string
	ask    string
}

// attribute is a terminal fact about an entity.
type attribute struct {
	from   kind
	ask    string
	answer func(e *entity) []string
}

var relations = []relation{
	{kPerson, func(e *entity) int { return e.birthplace }, "the birthplace of %s", "In which city was %s born?"},
	{kPerson, func(e *entity) int { return e.employer }, "the employer of %s", "Which organisation did %s work for?"},
	{kOrg, func(e *entity) int { return e.founder }, "the founder of %s", "Who founded %s?"},
	{kOrg, func(e *entity) int { return e.hq }, "the headquarters city of %s", "In which city is %s headquartered?"},
	{kCity, func(e *entity) int { return e.country }, "the country of %s", "In which country is %s?"},
	{kCountry, func(e *entity) int { return e.capital }, "the capital of %s", "What is the capital of %s?"},
	{kEvent, func(e *entity) int { return e.organiser }, "the organiser of %s", "Which organisation organised %s?"},
	{kEvent, func(e *entity) int { return e.venue }, "the host city of %s", "In which city was %s held?"},
}

func year(e *entity) []string { return []string{strconv.Itoa(e.year)} }

var attributes = []attribute{
	{kPerson, "In which year was %s born?", year},
	{kPerson, "What is the occupation of %s?", func(e *entity) []string { return []string{e.occupation} }},
	{kPerson, "On what date was %s born?", func(e *entity) []string {
		d, m := e.birthDay%28+1, ordinalMonth(e.birthDay/28)
		return []string{fmt.Sprintf("%d %s %d", d, m, e.year), fmt.Sprintf("%s %d, %d", m, d, e.year)}
	}},
	{kOrg, "In which year was %s founded?", year},
	{kCity, "In which year was %s founded?", year},
	{kCity, "What was the population of %s at the last census?", func(e *entity) []string { return []string{strconv.Itoa(e.population)} }},
	{kEvent, "In which year did %s take place?", year},
	{kCountry, "What is the currency of %s?", func(e *entity) []string { return []string{e.currency} }},
}

var comparisons = map[kind][2]string{
	kPerson: {"Who was born earlier, %s or %s?", "Who was born later, %s or %s?"},
	kOrg:    {"Which organisation was founded earlier, %s or %s?", "Which organisation was founded later, %s or %s?"},
	kCity:   {"Which city was founded earlier, %s or %s?", "Which city was founded later, %s or %s?"},
	kEvent:  {"Which event took place earlier, %s or %s?", "Which event took place later, %s or %s?"},
}

// walk follows steps random relations from a random entity, never visiting
// an entity twice. It returns the chain and a noun phrase for its end.
func (g *gen) walk(steps int, seen map[int]bool) ([]int, string, bool) {
	start := g.rng.IntN(len(g.ents))
	if seen[start] {
		return nil, "", false
	}
	chain := []int{start}
	np := g.ents[start].article()
	for range steps {
		e := &g.ents[chain[len(chain)-1]]
		var opts []relation
		for _, rel := range relations {
			if t := rel.target(e); rel.from == e.kind && t >= 0 && !seen[t] && !contains(chain, t) {
				opts = append(opts, rel)
			}
		}
		if len(opts) == 0 {
			return nil, "", false
		}
		rel := opts[g.rng.IntN(len(opts))]
		chain = append(chain, rel.target(e))
		np = fmt.Sprintf(rel.np, np)
	}
	return chain, np, true
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// bridge makes an h-hop question: h-1 relations, then a fact about the
// last entity, which only its own article states.
func (g *gen) bridge(h int) (draft, bool) {
	chain, np, ok := g.walk(h-1, nil)
	if !ok {
		return draft{}, false
	}
	last := &g.ents[chain[len(chain)-1]]
	type terminal struct {
		ask     string
		answers []string
	}
	var opts []terminal
	for _, rel := range relations {
		if t := rel.target(last); rel.from == last.kind && t >= 0 && !contains(chain, t) {
			opts = append(opts, terminal{rel.ask, []string{g.ents[t].name}})
		}
	}
	for _, a := range attributes {
		if a.from == last.kind {
			opts = append(opts, terminal{a.ask, a.answer(last)})
		}
	}
	if len(opts) == 0 {
		return draft{}, false
	}
	t := opts[g.rng.IntN(len(opts))]
	text := fmt.Sprintf(t.ask, np)
	text = strings.ToUpper(text[:1]) + text[1:]
	if leaks(text, t.answers[0]) {
		return draft{}, false
	}
	kindName := "bridge"
	if h == 1 {
		kindName = "single"
	}
	return draft{text: text, answers: t.answers, support: chain, kind: kindName}, true
}

// comparison makes an h-hop question comparing the years of two entities
// of one kind, each reached through a chain; the answer is the name of
// the earlier (or later) one.
func (g *gen) comparison(h int) (draft, bool) {
	a := 1 + g.rng.IntN(h-1)
	c1, np1, ok := g.walk(a-1, nil)
	if !ok {
		return draft{}, false
	}
	k := g.ents[c1[len(c1)-1]].kind
	tmpl, ok := comparisons[k]
	if !ok {
		return draft{}, false
	}
	seen := map[int]bool{}
	for _, x := range c1 {
		seen[x] = true
	}
	for range 50 {
		c2, np2, ok := g.walk(h-a-1, seen)
		if !ok {
			continue
		}
		e1, e2 := &g.ents[c1[len(c1)-1]], &g.ents[c2[len(c2)-1]]
		if e2.kind != k || e1.year == e2.year {
			continue
		}
		later := g.rng.IntN(2)
		win := e1
		if (e2.year < e1.year) == (later == 0) {
			win = e2
		}
		text := fmt.Sprintf(tmpl[later], np1, np2)
		return draft{text: text, answers: []string{win.name}, support: append(c1, c2...), kind: "comparison"}, true
	}
	return draft{}, false
}

// leaks reports whether the question already contains the answer.
func leaks(question, answer string) bool {
	q := " " + qa.Normalize(question) + " "
	return strings.Contains(q, " "+qa.Normalize(answer)+" ")
}

// questions makes perHop questions of each hop count 1..4, fewer if the
// graph is too small to give that many distinct ones.
func (g *gen) questions(perHop int) []draft {
	var out []draft
	seen := map[string]bool{}
	for h := 1; h <= 4; h++ {
		n := 0
		for attempt := 0; n < perHop && attempt < perHop*200; attempt++ {
			var d draft
			var ok bool
			if h > 1 && g.rng.IntN(10) < 3 {
				d, ok = g.comparison(h)
			} else {
				d, ok = g.bridge(h)
			}
			if !ok || seen[d.text] {
				continue
			}
			seen[d.text] = true
			out = append(out, d)
			n++
		}
	}
	return out
}
