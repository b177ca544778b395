package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRetrieverOverAJSONLCorpus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corpus.jsonl")
	os.WriteFile(path, []byte(strings.Join([]string{
		`{"id": "d1", "title": "Marrow Bay", "text": "Marrow Bay is a fishing town on the northern coast."}`,
		`{"id": "d2", "title": "Ostrel", "text": "Ostrel is a mountain village known for its cheese."}`,
		`{"id": "d3", "title": "Quillon", "text": "Quillon hosts a lantern festival every winter."}`,
	}, "\n")+"\n"), 0o600)
	r, err := OpenRetriever(context.Background(), RetrieverOptions{Corpus: path, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Docs() != 3 {
		t.Errorf("%d passages, want 3", r.Docs())
	}
	ps, err := r.Search(context.Background(), "which village is known for cheese?", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 || ps[0].ID != "d2" || ps[0].Title != "Ostrel" || !strings.Contains(ps[0].Text, "cheese") || ps[0].Score <= 0 {
		t.Errorf("top passage: %+v", ps)
	}
	if q := r.SampleQueries(2); len(q) != 2 || q[0] != "Marrow Bay" {
		t.Errorf("sample queries of a JSONL corpus (its titles): %v", q)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"id": "d1", "title": "x", "text": "y"}`+"\n"+`{"id": 7}`+"\n"), 0o600)
	if _, err := OpenRetriever(context.Background(), RetrieverOptions{Corpus: bad, CacheDir: filepath.Join(dir, "cache")}); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("a bad corpus line: %v, want an error naming line 2", err)
	}
}
