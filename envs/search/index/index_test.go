package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/kb"
)

func testCorpus(t testing.TB, n int) (*kb.KB, *corpus.Corpus) {
	t.Helper()
	k, err := kb.Generate(kb.Config{Seed: 3, Passages: n, QuestionsPerHop: 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := corpus.New(k.Docs)
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}

func TestBuildReuseRebuild(t *testing.T) {
	ctx := context.Background()
	k, c := testCorpus(t, 2000)
	dir := t.TempDir()
	ix, err := Open(ctx, dir, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !ix.Built || ix.Docs() != 2000 {
		t.Fatalf("built=%v docs=%d", ix.Built, ix.Docs())
	}
	t.Logf("%s built in %v", ix, ix.BuildTime)
	q := k.Questions[len(k.Questions)-1]
	hits, err := ix.Search(ctx, q.Queries[0], 5)
	if err != nil || len(hits) == 0 {
		t.Fatalf("search: %v %v", hits, err)
	}
	if hits[0].ID != q.SupportingIDs[0] {
		t.Errorf("search %q: top hit %s, want %s", q.Queries[0], hits[0].ID, q.SupportingIDs[0])
	}
	ix.Close()

	ix, err = Open(ctx, dir, c, Options{})
	if err != nil || ix.Built {
		t.Fatalf("reopen: built=%v err=%v", ix != nil && ix.Built, err)
	}
	ix.Close()

	// Corrupt the index: it is rebuilt.
	path := filepath.Join(dir, c.Hash())
	if err := os.RemoveAll(filepath.Join(path, "bleve", "store")); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(ctx, dir, c, Options{})
	if err != nil || !ix.Built {
		t.Fatalf("rebuild after corruption: built=%v err=%v", ix != nil && ix.Built, err)
	}
	ix.Close()
	if err := os.WriteFile(filepath.Join(path, "manifest.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(ctx, dir, c, Options{})
	if err != nil || !ix.Built {
		t.Fatalf("rebuild after bad manifest: built=%v err=%v", ix != nil && ix.Built, err)
	}
	ix.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want 1 (no leftovers)", len(entries))
	}
}

func TestCancelledBuildLeavesNothing(t *testing.T) {
	_, c := testCorpus(t, 2000)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, dir, c, Options{BatchSize: 100}); err == nil {
		t.Fatal("want an error from a cancelled build")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("cancelled build left %d entries", len(entries))
	}
}

// TestBuildsAgree: two builds of one corpus rank every query alike, so
// episodes replay the same on another machine's cache.
func TestBuildsAgree(t *testing.T) {
	ctx := context.Background()
	k, c := testCorpus(t, 2000)
	a, err := Open(ctx, t.TempDir(), c, Options{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, t.TempDir(), c, Options{BatchSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, q := range k.Questions {
		for _, text := range append([]string{q.Question}, q.Queries...) {
			ha, _ := a.Search(ctx, text, 5)
			hb, _ := b.Search(ctx, text, 5)
			if fmt.Sprint(ha) != fmt.Sprint(hb) {
				t.Fatalf("%q:\n%v\n%v", text, ha, hb)
			}
		}
	}
}
