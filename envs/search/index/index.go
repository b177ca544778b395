// Package index is the BM25 retriever of the search env: a bleve index over
// a corpus, built once per corpus content into a cache directory and
// reused by every env instance and process after that.
//
// Layout: <dir>/<corpus hash>/{bleve/, manifest.json}. A build goes into a
// temporary sibling directory that is renamed into place only when it is
// complete, so a crash or a failed build never leaves a half-built index
// where a reader would find it.
package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
	"github.com/schollz/progressbar/v3"

	"github.com/envgym/envgym/envs/search/corpus"
)

// format changes when the on-disk layout or analysis changes, so old
// caches are rebuilt rather than misread.
const format = 1

const field = "body"

// tieSlack is how many hits beyond k are fetched to order ties by id.
const tieSlack = 10

// ErrCorrupt is wrapped when a cached index cannot be used and could not
// be rebuilt.
var ErrCorrupt = errors.New("search index is corrupt")

// Options configure Open.
type Options struct {
	// Progress receives a progress bar while building; nil for none.
	Progress io.Writer
	// BatchSize is the number of passages per bleve batch (default 2000).
	BatchSize int
	// CommonFraction: terms in more than this fraction of passages are
	// dropped from queries that have rarer terms (default 0.05).
	CommonFraction float64
}

// Index answers top-k BM25 queries over one corpus.
type Index struct {
	bl       bleve.Index
	path     string
	analyzer analysis.Analyzer
	common   map[string]bool
	docs     int
	// Built reports whether Open had to build the index (false: reused).
	Built bool
	// BuildTime is how long the build took, zero when reused.
	BuildTime time.Duration
}

// Hit is one search result.
type Hit struct {
	ID    string
	Score float64
}

type manifest struct {
	Format      int      `json:"format"`
	CorpusHash  string   `json:"corpus_hash"`
	Docs        int      `json:"docs"`
	CommonTerms []string `json:"common_terms"`
	BuiltAt     string   `json:"built_at"`
}

// Open returns the index of c cached under dir, building it when it is
// missing and rebuilding it when it is corrupt.
func Open(ctx context.Context, dir string, c *corpus.Corpus, opts Options) (*Index, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	if opts.CommonFraction <= 0 {
		opts.CommonFraction = 0.05
	}
	hash := c.Hash()
	final := filepath.Join(dir, hash)
	ix, err := openExisting(final, hash, c.Len())
	if err == nil {
		return ix, nil
	}
	if !errors.Is(err, errNoIndex) {
		// Corrupt or from another format: rebuild, it is only a cache.
		if rmErr := os.RemoveAll(final); rmErr != nil {
			return nil, fmt.Errorf("%w at %s (%v), and removing it failed: %w", ErrCorrupt, final, err, rmErr)
		}
	}
	start := time.Now()
	if err := build(ctx, dir, hash, c, opts); err != nil {
		return nil, err
	}
	ix, err = openExisting(final, hash, c.Len())
	if err != nil {
		return nil, fmt.Errorf("%w: freshly built index at %s: %w", ErrCorrupt, final, err)
	}
	ix.Built, ix.BuildTime = true, time.Since(start)
	return ix, nil
}

// errNoIndex: nothing is cached yet (as opposed to a corrupt cache).
var errNoIndex = errors.New("no index")

// openExisting opens a complete index; an error wrapping errNoIndex means
// there is none.
func openExisting(path, hash string, docs int) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(path, "manifest.json"))
	if err != nil {
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", errNoIndex, path)
		}
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if m.Format != format || m.CorpusHash != hash || m.Docs != docs {
		return nil, fmt.Errorf("manifest says format %d, corpus %s, %d docs; want %d, %s, %d",
			m.Format, m.CorpusHash, m.Docs, format, hash, docs)
	}
	// Read-only: several plugin processes may share one cache.
	bl, err := bleve.OpenUsing(filepath.Join(path, "bleve"), map[string]any{"read_only": true})
	if err != nil {
		return nil, fmt.Errorf("open bleve index: %w", err)
	}
	n, err := bl.DocCount()
	if err != nil || n != uint64(docs) {
		bl.Close()
		return nil, fmt.Errorf("index holds %d docs (%v), manifest says %d", n, err, docs)
	}
	an, err := analyzer()
	if err != nil {
		bl.Close()
		return nil, err
	}
	common := make(map[string]bool, len(m.CommonTerms))
	for _, t := range m.CommonTerms {
		common[t] = true
	}
	return &Index{bl: bl, path: path, analyzer: an, common: common, docs: docs}, nil
}

func analyzer() (analysis.Analyzer, error) {
	// The English analyzer: possessives, lower case, stop words, stemming.
	an := bleve.NewIndexMapping().AnalyzerNamed(en.AnalyzerName)
	if an == nil {
		return nil, errors.New("bleve has no English analyzer")
	}
	return an, nil
}

func newMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = bindex.BM25Scoring
	m.DefaultAnalyzer = en.AnalyzerName
	body := bleve.NewTextFieldMapping()
	body.Analyzer = en.AnalyzerName
	body.Store, body.IncludeTermVectors, body.IncludeInAll, body.DocValues = false, false, false, false
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(field, body)
	m.DefaultMapping = dm
	return m
}

func build(ctx context.Context, dir, hash string, c *corpus.Corpus, opts Options) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			// In a plugin sandbox the host's folders are read-only.
			return fmt.Errorf("create index cache dir: %w (inside a plugin's sandbox only its own cache is writable: leave cache_dir unset, or install the plugin with --writable %s)", err, dir)
		}
		return fmt.Errorf("create index cache dir: %w", err)
	}
	removeStale(dir, hash)
	tmp, err := os.MkdirTemp(dir, hash+".tmp-")
	if err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	bl, err := bleve.NewUsing(filepath.Join(tmp, "bleve"), newMapping(), bleve.Config.DefaultIndexType,
		bleve.Config.DefaultKVStore, nil)
	if err != nil {
		return fmt.Errorf("create bleve index: %w", err)
	}
	defer func() {
		if bl != nil {
			bl.Close()
		}
	}()
	an, err := analyzer()
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		bar = progressbar.NewOptions(c.Len(),
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("indexing passages"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }),
		)
	}
	batch := bl.NewBatch()
	for i, d := range c.Docs {
		// Building documents directly skips bleve's reflection-based
		// mapping: nothing is stored, only the analysed body is indexed.
		doc := document.NewDocument(d.ID)
		doc.AddField(document.NewTextFieldCustom(field, nil, []byte(d.Title+"\n"+d.Text), bindex.IndexField, an))
		if err := batch.IndexAdvanced(doc); err != nil {
			return fmt.Errorf("index passage %s: %w", d.ID, err)
		}
		if batch.Size() >= opts.BatchSize || i == len(c.Docs)-1 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("index build: %w", err)
			}
			if err := bl.Batch(batch); err != nil {
				return fmt.Errorf("index batch: %w", err)
			}
			if bar != nil {
				bar.Add(batch.Size())
			}
			batch.Reset()
		}
	}
	// One segment makes every query touch one posting list per term.
	if adv, err := bl.Advanced(); err == nil {
		if s, ok := adv.(*scorch.Scorch); ok {
			mo := mergeplan.SingleSegmentMergePlanOptions
			if err := s.ForceMerge(ctx, &mo); err != nil {
				return fmt.Errorf("merge index segments: %w", err)
			}
		}
	}
	common := commonTerms(an, c, opts.CommonFraction)
	if err := bl.Close(); err != nil {
		return fmt.Errorf("close built index: %w", err)
	}
	bl = nil
	m := manifest{Format: format, CorpusHash: hash, Docs: c.Len(), CommonTerms: common, BuiltAt: time.Now().UTC().Format(time.RFC3339)}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), b, 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	final := filepath.Join(dir, hash)
	if err := os.Rename(tmp, final); err != nil {
		// Another process may have finished the same build first; its
		// index is as good as ours.
		if _, statErr := os.Stat(filepath.Join(final, "manifest.json")); statErr == nil {
			os.RemoveAll(tmp)
			return nil
		}
		return fmt.Errorf("move built index into place: %w", err)
	}
	return nil
}

// removeStale deletes build directories of hash left by crashed builds.
func removeStale(dir, hash string) {
	old, _ := filepath.Glob(filepath.Join(dir, hash+".tmp-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.RemoveAll(p)
		}
	}
}

// commonTerms estimates document frequencies from an even sample of the
// corpus (bleve's term dictionary counts proved unreliable after merges)
// and returns the terms above threshold, a fraction of passages.
func commonTerms(an analysis.Analyzer, c *corpus.Corpus, threshold float64) []string {
	const sample = 5000
	step := max(1, c.Len()/sample)
	df := map[string]int{}
	n := 0
	for i := 0; i < c.Len(); i += step {
		n++
		seen := map[string]bool{}
		d := c.Docs[i]
		for _, tok := range an.Analyze([]byte(d.Title + "\n" + d.Text)) {
			if t := string(tok.Term); !seen[t] {
				seen[t] = true
				df[t]++
			}
		}
	}
	var out []string
	for t, k := range df {
		if float64(k) > threshold*float64(n) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Terms analyses text as the index does and drops repeated terms.
func (ix *Index) Terms(text string) []string {
	var out []string
	for _, tok := range ix.analyzer.Analyze([]byte(text)) {
		t := string(tok.Term)
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Search returns the top k passages for text by BM25. Terms that occur in
// a large share of the corpus are dropped when rarer terms remain: they
// hardly change the ranking but dominate the cost of a query.
func (ix *Index) Search(ctx context.Context, text string, k int) ([]Hit, error) {
	terms := ix.Terms(text)
	rare := terms[:0:0]
	for _, t := range terms {
		if !ix.common[t] {
			rare = append(rare, t)
		}
	}
	if len(rare) > 0 {
		terms = rare
	}
	if len(terms) == 0 {
		return nil, nil
	}
	qs := make([]query.Query, len(terms))
	for i, t := range terms {
		tq := query.NewTermQuery(t)
		tq.SetField(field)
		qs[i] = tq
	}
	var q query.Query = qs[0]
	if len(qs) > 1 {
		q = query.NewDisjunctionQuery(qs)
	}
	// Ties are ordered by id. bleve breaks them by internal doc number,
	// which depends on the order concurrent analysis finished in, so two
	// builds of one corpus could rank ties differently. Sorting by id in
	// bleve costs a stored-field load per match (10x slower), so fetch a
	// few extra hits and sort those; only when the tie at rank k runs
	// past them ask bleve for the id order.
	hits, err := ix.search(ctx, q, k+tieSlack, false)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", text, err)
	}
	if len(hits) == k+tieSlack && hits[k-1].Score == hits[len(hits)-1].Score {
		if hits, err = ix.search(ctx, q, k, true); err != nil {
			return nil, fmt.Errorf("search %q: %w", text, err)
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return hits[:min(k, len(hits))], nil
}

func (ix *Index) search(ctx context.Context, q query.Query, n int, byID bool) ([]Hit, error) {
	req := bleve.NewSearchRequestOptions(q, n, 0, false)
	if byID {
		req.SortBy([]string{"-_score", "_id"})
	}
	res, err := ix.bl.SearchInContext(ctx, req)
	if err != nil {
		return nil, err
	}
	hits := make([]Hit, len(res.Hits))
	for i, h := range res.Hits {
		hits[i] = Hit{ID: h.ID, Score: h.Score}
	}
	return hits, nil
}

// Docs is the number of indexed passages.
func (ix *Index) Docs() int { return ix.docs }

// Path is where the index lives.
func (ix *Index) Path() string { return ix.path }

// CommonTerms lists the terms dropped from queries with rarer terms.
func (ix *Index) CommonTerms() []string {
	out := make([]string, 0, len(ix.common))
	for t := range ix.common {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Close releases the index files.
func (ix *Index) Close() error {
	if err := ix.bl.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", ix.path, err)
	}
	return nil
}

// String describes the index for logs.
func (ix *Index) String() string {
	return fmt.Sprintf("bm25 index of %d passages at %s (common terms: %s)", ix.docs, ix.path, strings.Join(ix.CommonTerms(), " "))
}
