package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/envgym/envgym/envs/search"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/serve"
)

// benchRetrieve times POST /retrieve with 64 queries (top 3, scores) on an
// in-process server whose retriever is the search env's index of passages
// passages, built once into the search cache and reused after.
func benchRetrieve(ctx context.Context, a *app, passages int, res *benchServeResult) error {
	fmt.Fprintf(a.stderr, "bench serve: retriever over %d passages (the first run builds the index)\n", passages)
	r, err := search.OpenRetriever(ctx, search.RetrieverOptions{Passages: passages, Progress: a.stderr})
	if err != nil {
		return fmt.Errorf("bench serve: %w", err)
	}
	defer r.Close()
	srv := serve.New(gym.NewRegistry(), serve.Config{Retriever: &searchRetriever{r}})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()

	queries := r.SampleQueries(64 * 8)
	const warm, n = 3, 40
	var lat []time.Duration
	for i := range warm + n {
		batch := make([]string, 64)
		for j := range batch {
			batch[j] = queries[(i*64+j)%len(queries)]
		}
		body, _ := json.Marshal(map[string]any{"queries": batch, "topk": 3, "return_scores": true})
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/retrieve", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("bench serve: retrieve: %w", err)
		}
		var out struct {
			Result [][]json.RawMessage `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 || len(out.Result) != 64 {
			return fmt.Errorf("bench serve: retrieve: HTTP %d, %d results, %v", resp.StatusCode, len(out.Result), err)
		}
		if i >= warm {
			lat = append(lat, d)
		}
	}
	res.RetrievePassages = r.Docs()
	res.RetrieveBatch64P50Ms = percentile(lat, 50) / 1000
	res.RetrieveBatch64P99Ms = percentile(lat, 99) / 1000
	return nil
}
