package search

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/index"
	"github.com/envgym/envgym/envs/search/kb"
)

// Retriever serves the env's BM25 index outside episodes: the retrieval
// server of Search-R1-style trainers (gym serve --retriever). It opens the
// same cached index the env uses, so both rank identically.
type Retriever struct {
	corpus    *corpus.Corpus
	index     *index.Index
	source    string
	questions []string // the fictional knowledge base's, for SampleQueries
}

// RetrieverOptions selects the corpus: the fictional knowledge base (Seed,
// Passages; the env's defaults when zero) or a JSONL corpus file
// ({id, title, text} a line).
type RetrieverOptions struct {
	Corpus   string // JSONL path; empty: the fictional knowledge base
	Seed     uint64
	Passages int
	CacheDir string    // default: the env's index cache
	Progress io.Writer // progress bar while building; nil for none
}

// OpenRetriever loads the corpus and opens (building when needed) its index.
func OpenRetriever(ctx context.Context, o RetrieverOptions) (*Retriever, error) {
	c := defaultConfig()
	if o.Passages > 0 {
		c.passages = o.Passages
	}
	if o.CacheDir == "" {
		o.CacheDir = defaultCacheDir()
	}
	var cor *corpus.Corpus
	var source string
	var questions []string
	if o.Corpus != "" {
		var err error
		if cor, err = corpus.LoadDocs(o.Corpus); err != nil {
			return nil, fmt.Errorf("retriever corpus: %w", err)
		}
		source = o.Corpus
	} else {
		k, err := kb.Generate(kb.Config{Seed: o.Seed, Passages: c.passages, QuestionsPerHop: c.questionsPerHop})
		if err != nil {
			return nil, fmt.Errorf("retriever: generate knowledge base: %w", err)
		}
		if cor, err = corpus.New(k.Docs); err != nil {
			return nil, fmt.Errorf("retriever: generated corpus: %w", err)
		}
		source = "fictional knowledge base, seed " + strconv.FormatUint(o.Seed, 10)
		for _, q := range k.Questions {
			questions = append(questions, q.Question)
		}
	}
	ix, err := index.Open(ctx, o.CacheDir, cor, index.Options{Progress: o.Progress})
	if err != nil {
		return nil, fmt.Errorf("retriever index: %w", err)
	}
	return &Retriever{corpus: cor, index: ix, source: source, questions: questions}, nil
}

// Passage is one retrieved passage.
type Passage struct {
	ID, Title, Text string
	Score           float64
}

// Search returns the top k passages for query by BM25, best first.
func (r *Retriever) Search(ctx context.Context, query string, k int) ([]Passage, error) {
	hits, err := r.index.Search(ctx, query, k)
	if err != nil {
		return nil, err
	}
	out := make([]Passage, 0, len(hits))
	for _, h := range hits {
		d, ok := r.corpus.Get(h.ID)
		if !ok {
			return nil, fmt.Errorf("index names passage %q that the corpus lacks: %w", h.ID, index.ErrCorrupt)
		}
		out = append(out, Passage{ID: d.ID, Title: d.Title, Text: d.Text, Score: h.Score})
	}
	return out, nil
}

// Docs is the number of passages.
func (r *Retriever) Docs() int { return r.corpus.Len() }

// String describes the retriever for logs.
func (r *Retriever) String() string {
	return fmt.Sprintf("%d passages from %s", r.corpus.Len(), r.source)
}

// Close releases the index.
func (r *Retriever) Close() error { return r.index.Close() }

// SampleQueries returns up to n realistic queries for benchmarks: the
// knowledge base's question texts, or passage titles for a JSONL corpus.
func (r *Retriever) SampleQueries(n int) []string {
	out := make([]string, 0, n)
	for _, q := range r.questions {
		if len(out) == n {
			return out
		}
		out = append(out, q)
	}
	for _, d := range r.corpus.Docs {
		if len(out) == n {
			break
		}
		out = append(out, d.Title)
	}
	return out
}
