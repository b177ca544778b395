package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/envgym/envgym/envs/search"
	"github.com/envgym/envgym/serve"
)

// retrieverOptions are gym serve's --retriever flags.
type retrieverOptions struct {
	on       bool
	corpus   string
	passages int
	seed     uint64
	cacheDir string
}

func (o *retrieverOptions) flags(f *pflag.FlagSet) {
	f.BoolVar(&o.on, "retriever", false, "serve POST /retrieve (Search-R1's retrieval protocol) over the search env's BM25 index")
	f.StringVar(&o.corpus, "retriever-corpus", "", "JSONL corpus for the retriever, {id, title, text} a line (default: the fictional knowledge base)")
	f.IntVar(&o.passages, "retriever-passages", 20000, "passages of the fictional knowledge base")
	f.Uint64Var(&o.seed, "retriever-seed", 0, "seed of the fictional knowledge base")
	f.StringVar(&o.cacheDir, "retriever-cache-dir", "", "index cache (default: the search env's, <user cache dir>/envgym/search)")
}

// open loads the retriever when --retriever is on; nil otherwise.
func (o *retrieverOptions) open(ctx context.Context, a *app) (*searchRetriever, error) {
	if !o.on {
		if o.corpus != "" {
			return nil, fmt.Errorf("--retriever-corpus needs --retriever")
		}
		return nil, nil
	}
	if o.passages < 500 {
		return nil, fmt.Errorf("--retriever-passages %d: at least 500", o.passages)
	}
	r, err := search.OpenRetriever(ctx, search.RetrieverOptions{Corpus: o.corpus, Seed: o.seed, Passages: o.passages, CacheDir: o.cacheDir, Progress: a.stderr})
	if err != nil {
		return nil, fmt.Errorf("--retriever: %w", err)
	}
	fmt.Fprintf(a.stderr, "gym serve: retriever over %s\n", r)
	return &searchRetriever{r}, nil
}

// searchRetriever gives the search env's index serve's Retriever shape.
type searchRetriever struct{ *search.Retriever }

// Retrieve formats passages as Search-R1's corpus does: the title in
// quotes on the first line, then the text.
func (r *searchRetriever) Retrieve(ctx context.Context, query string, k int) ([]serve.Passage, error) {
	ps, err := r.Search(ctx, query, k)
	if err != nil {
		return nil, err
	}
	out := make([]serve.Passage, len(ps))
	for i, p := range ps {
		out[i] = serve.Passage{ID: p.ID, Contents: `"` + p.Title + "\"\n" + p.Text, Score: p.Score}
	}
	return out, nil
}

// serve returns r as serve's Retriever, or nil (not a typed nil) for none.
func (r *searchRetriever) serve() serve.Retriever {
	if r == nil {
		return nil
	}
	return r
}
