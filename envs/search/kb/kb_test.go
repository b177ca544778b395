package kb

import (
	"reflect"
	"strings"
	"testing"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/qa"
)

func generate(t testing.TB, seed uint64, n int) *KB {
	t.Helper()
	k, err := Generate(Config{Seed: seed, Passages: n})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeterministicPerSeed(t *testing.T) {
	a, b := generate(t, 7, 2000), generate(t, 7, 2000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two knowledge bases from seed 7 differ")
	}
	c := generate(t, 8, 2000)
	if reflect.DeepEqual(a.Docs, c.Docs) {
		t.Fatal("seeds 7 and 8 gave the same corpus")
	}
}

func TestSizes(t *testing.T) {
	for _, n := range []int{500, 2000, 20000} {
		k := generate(t, 1, n)
		if len(k.Docs) != n {
			t.Errorf("%d passages requested, got %d", n, len(k.Docs))
		}
		if _, err := corpus.New(k.Docs); err != nil {
			t.Errorf("%d passages: %v", n, err)
		}
		hops := map[int]int{}
		for _, q := range k.Questions {
			hops[q.Hops]++
		}
		for h := 1; h <= 4; h++ {
			if n >= 2000 && hops[h] != 250 {
				t.Errorf("%d passages: %d questions of %d hops, want 250", n, hops[h], h)
			}
		}
	}
	if _, err := Generate(Config{Passages: 10}); err == nil {
		t.Error("10 passages: want an error")
	}
}

func TestScalesTo100k(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	k := generate(t, 2, 100_000)
	if len(k.Docs) != 100_000 {
		t.Fatalf("got %d passages", len(k.Docs))
	}
}

// TestQuestionsAnswerableFromPassages checks every question against the
// text: a bridge chain's next entity is named in the passage before it,
// the answer is in the last passage, and a comparison's answer is one of
// the compared passages' titles.
func TestQuestionsAnswerableFromPassages(t *testing.T) {
	k := generate(t, 5, 5000)
	c, err := corpus.New(k.Docs)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, q := range k.Questions {
		kinds[q.Kind]++
		if len(q.SupportingIDs) != q.Hops || len(q.Queries) != q.Hops || q.Hops < 1 || q.Hops > 4 {
			t.Fatalf("%s: hops %d, %d supporting ids, %d queries", q.ID, q.Hops, len(q.SupportingIDs), len(q.Queries))
		}
		docs := make([]corpus.Doc, q.Hops)
		for i, id := range q.SupportingIDs {
			d, ok := c.Get(id)
			if !ok {
				t.Fatalf("%s: supporting id %s not in corpus", q.ID, id)
			}
			if d.Title != q.Queries[i] {
				t.Fatalf("%s: passage %s is %q, query %q", q.ID, id, d.Title, q.Queries[i])
			}
			docs[i] = d
		}
		switch q.Kind {
		case "comparison":
			if !slicesContainsFold(q.Queries, q.Answers[0]) {
				t.Errorf("%s %q: answer %q is not a compared entity %v", q.ID, q.Question, q.Answers[0], q.Queries)
			}
		default:
			for i := 1; i < q.Hops; i++ {
				if !strings.Contains(docs[i-1].Text, docs[i].Title) {
					t.Errorf("%s: passage %d does not name the next hop %q", q.ID, i-1, docs[i].Title)
				}
			}
			last := " " + qa.Normalize(docs[q.Hops-1].Text) + " "
			if !strings.Contains(last, " "+qa.Normalize(q.Answers[0])+" ") {
				t.Errorf("%s %q: answer %q not in %q", q.ID, q.Question, q.Answers[0], docs[q.Hops-1].Text)
			}
		}
	}
	if kinds["comparison"] == 0 || kinds["bridge"] == 0 || kinds["single"] == 0 {
		t.Errorf("question kinds %v: want single, bridge and comparison", kinds)
	}
}

func slicesContainsFold(xs []string, s string) bool {
	for _, x := range xs {
		if qa.ExactMatch(x, s) {
			return true
		}
	}
	return false
}
