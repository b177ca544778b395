package serve

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"unicode/utf8"
)

// Retriever answers top-k passage queries: the search env's BM25 index
// served to trainers outside an episode (gym serve --retriever).
type Retriever interface {
	Retrieve(ctx context.Context, query string, k int) ([]Passage, error)
}

// Passage is one retrieved document in Search-R1's corpus shape: contents
// is the title in quotes, a newline, then the text.
type Passage struct {
	ID       string  `json:"id"`
	Contents string  `json:"contents"`
	Score    float64 `json:"-"`
}

// Limits of one /retrieve request.
const (
	retrieveMaxQueries    = 1024
	retrieveMaxTopK       = 100
	retrieveMaxQueryChars = 4096
	retrieveDefaultTopK   = 3 // Search-R1's retrieval_topk default
)

// retrieveRequest is Search-R1's QueryRequest (search_r1/search/retrieval_server.py).
type retrieveRequest struct {
	Queries      []string `json:"queries"`
	TopK         *int     `json:"topk"`
	ReturnScores bool     `json:"return_scores"`
}

type scoredPassage struct {
	Document Passage `json:"document"`
	Score    float64 `json:"score"`
}

// retrieveRoutes adds POST /retrieve, the de-facto retrieval protocol of
// Search-R1, verl's search tool and the rLLM/SkyRL search envs:
//
//	{"queries": ["…", …], "topk": 3, "return_scores": true}
//	→ {"result": [[{"document": {"id", "contents"}, "score"}, …], …]}
//
// Without return_scores each result list holds the documents alone. The
// queries of a batch are answered concurrently.
func (s *Server) retrieveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /retrieve", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		if s.cfg.Retriever == nil {
			writeErr(w, errorf(404, "", "this server has no retriever: start it with gym serve --retriever"))
			return
		}
		var req retrieveRequest
		if err := decode(r.Body, &req); err != nil {
			writeErr(w, err)
			return
		}
		k := retrieveDefaultTopK
		if req.TopK != nil {
			k = *req.TopK
		}
		if err := checkRetrieve(req.Queries, k); err != nil {
			writeErr(w, err)
			return
		}
		hits, err := retrieveAll(r.Context(), s.cfg.Retriever, req.Queries, k)
		if err != nil {
			writeErr(w, err)
			return
		}
		result := make([]any, len(hits))
		for i, ps := range hits {
			if req.ReturnScores {
				sp := make([]scoredPassage, len(ps))
				for j, p := range ps {
					sp[j] = scoredPassage{Document: p, Score: p.Score}
				}
				result[i] = sp
			} else {
				result[i] = ps
			}
		}
		writeJSON(w, 200, map[string]any{"result": result})
	}))
}

func checkRetrieve(queries []string, k int) error {
	switch {
	case queries == nil:
		return errorf(400, "queries", `"queries" is required: a list of query strings`)
	case len(queries) > retrieveMaxQueries:
		return errorf(400, "queries", "%d queries in one request; at most %d", len(queries), retrieveMaxQueries)
	case k < 1 || k > retrieveMaxTopK:
		return errorf(400, "topk", "topk %d is out of range 1..%d", k, retrieveMaxTopK)
	}
	for i, q := range queries {
		if n := utf8.RuneCountInString(q); n > retrieveMaxQueryChars {
			return errorf(400, fmt.Sprintf("queries[%d]", i), "query is %d characters; at most %d", n, retrieveMaxQueryChars)
		}
	}
	return nil
}

// retrieveAll answers queries concurrently, one worker per CPU.
func retrieveAll(ctx context.Context, r Retriever, queries []string, k int) ([][]Passage, error) {
	out := make([][]Passage, len(queries))
	errs := make([]error, len(queries))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(queries)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = r.Retrieve(ctx, queries[i], k)
				if out[i] == nil {
					out[i] = []Passage{}
				}
			}
		}()
	}
	for i := range queries {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, errorf(500, fmt.Sprintf("queries[%d]", i), "retrieve: %v", err)
		}
	}
	return out, nil
}
