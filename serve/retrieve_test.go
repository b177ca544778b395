package serve

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/envgym/envgym/envs/search"
)

// bm25 adapts the search env's retriever as gym serve --retriever does.
type bm25 struct{ *search.Retriever }

func (r bm25) Retrieve(ctx context.Context, q string, k int) ([]Passage, error) {
	ps, err := r.Search(ctx, q, k)
	out := make([]Passage, len(ps))
	for i, p := range ps {
		out[i] = Passage{ID: p.ID, Contents: `"` + p.Title + "\"\n" + p.Text, Score: p.Score}
	}
	return out, err
}

func TestRetrieveBatchOverBM25(t *testing.T) {
	r, err := search.OpenRetriever(context.Background(), search.RetrieverOptions{Passages: 2000, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := New(textRegistry(t), Config{Token: "secret", Retriever: bm25{r}})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := httpClient{t, ts.URL, "secret"}

	// 64 queries: the first words of 64 passages' titles, which BM25 must
	// rank that passage's title among.
	var queries []string
	var ids []string
	for i := 0; len(queries) < 64; i++ {
		hits, err := r.Search(context.Background(), fmt.Sprintf("passage %d", i), 1)
		if err != nil || len(hits) == 0 {
			continue
		}
		queries = append(queries, hits[0].Title)
		ids = append(ids, hits[0].ID)
	}
	code, out := c.do("POST", "/retrieve", map[string]any{"queries": queries, "topk": 5, "return_scores": true})
	if code != 200 {
		t.Fatalf("retrieve: %d %v", code, out)
	}
	result, _ := out["result"].([]any)
	if len(result) != 64 {
		t.Fatalf("%d result lists for 64 queries", len(result))
	}
	for i, lst := range result {
		hits := lst.([]any)
		if len(hits) == 0 || len(hits) > 5 {
			t.Fatalf("query %q: %d hits", queries[i], len(hits))
		}
		found, prev := false, 1e9
		for _, h := range hits {
			m := h.(map[string]any)
			doc := m["document"].(map[string]any)
			score := m["score"].(float64)
			if score > prev || doc["id"] == "" || doc["contents"] == "" {
				t.Fatalf("query %q: hits out of order or empty: %v", queries[i], hits)
			}
			prev = score
			found = found || doc["id"] == ids[i]
		}
		if !found {
			t.Errorf("query %q (the title of %s) did not retrieve it: %v", queries[i], ids[i], hits)
		}
	}
	// Without scores: the documents alone, as Search-R1's server answers.
	code, out = c.do("POST", "/retrieve", map[string]any{"queries": queries[:2]})
	if code != 200 {
		t.Fatalf("retrieve: %d %v", code, out)
	}
	first := out["result"].([]any)[0].([]any)
	if len(first) != retrieveDefaultTopK || first[0].(map[string]any)["contents"] == nil {
		t.Errorf("default topk, no scores: %v", first)
	}

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"topk": 3}, "queries"},
		{map[string]any{"queries": "one string"}, "queries"},
		{map[string]any{"queries": []string{"x"}, "topk": 0}, "topk"},
		{map[string]any{"queries": []string{"x"}, "topk": "3"}, "topk"},
		{map[string]any{"queries": []string{"x"}, "top_k": 3}, "top_k"},
	} {
		code, out := c.do("POST", "/retrieve", tc.body)
		if code != 400 || out["field"] != tc.field {
			t.Errorf("%v: %d %v, want 400 naming %q", tc.body, code, out, tc.field)
		}
	}
	if code, _ := (httpClient{t, ts.URL, "wrong"}).do("POST", "/retrieve", map[string]any{"queries": queries}); code != 401 {
		t.Errorf("wrong token: %d", code)
	}

	// A server without a retriever says how to get one.
	s2 := New(textRegistry(t), Config{})
	defer s2.Close()
	ts2 := httptest.NewServer(s2.Handler())
	defer ts2.Close()
	if code, out := (httpClient{t, ts2.URL, ""}).do("POST", "/retrieve", map[string]any{"queries": queries}); code != 404 {
		t.Errorf("no retriever: %d %v", code, out)
	}
}
