package search

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/index"
	"github.com/envgym/envgym/envs/search/kb"
)

// database is a corpus, its questions and its index, shared read-only by
// every env instance that plays on it.
type database struct {
	corpus    *corpus.Corpus
	questions []corpus.Question
	byTask    map[string][]int // task id → question indexes
	index     *index.Index
	hash      string
	source    string // for descriptions: "fictional seed 0" or the corpus path
}

// store owns the databases of one registry, so env instances made by the
// same factory share one loaded corpus and one open index instead of
// rebuilding per instance. It is created by Register; there is no
// package-level state.
type store struct {
	progress io.Writer // progress bars go here when an instance asks for them

	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	mu sync.Mutex // held while loading, so concurrent makers wait for one build
	db *database
}

func newStore(progress io.Writer) *store {
	return &store{progress: progress, slots: map[string]*slot{}}
}

// get returns the database for key, loading it with load the first time.
// A failed load is not remembered: the next call tries again.
func (s *store) get(ctx context.Context, key string, load func(ctx context.Context) (*database, error)) (*database, error) {
	s.mu.Lock()
	sl, ok := s.slots[key]
	if !ok {
		sl = &slot{}
		s.slots[key] = sl
	}
	s.mu.Unlock()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.db != nil {
		return sl.db, nil
	}
	db, err := load(ctx)
	if err != nil {
		return nil, err
	}
	sl.db = db
	return db, nil
}

// close closes every open index.
func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for k, sl := range s.slots {
		sl.mu.Lock()
		if sl.db != nil {
			if err := sl.db.index.Close(); err != nil && first == nil {
				first = err
			}
		}
		sl.mu.Unlock()
		delete(s.slots, k)
	}
	return first
}

func (s *store) indexOptions(c config) index.Options {
	o := index.Options{}
	if c.progress {
		o.Progress = s.progress
	}
	return o
}

func (s *store) fictional(ctx context.Context, c config) (*database, error) {
	key := fmt.Sprintf("fictional|%d|%d|%d|%s", c.seed, c.passages, c.questionsPerHop, c.cacheDir)
	return s.get(ctx, key, func(ctx context.Context) (*database, error) {
		k, err := kb.Generate(kb.Config{Seed: c.seed, Passages: c.passages, QuestionsPerHop: c.questionsPerHop})
		if err != nil {
			return nil, fmt.Errorf("generate knowledge base: %w", err)
		}
		cor, err := corpus.New(k.Docs)
		if err != nil {
			return nil, fmt.Errorf("generated corpus: %w", err)
		}
		return s.open(ctx, c, cor, k.Questions, fmt.Sprintf("fictional knowledge base, seed %d", c.seed))
	})
}

func (s *store) custom(ctx context.Context, c config) (*database, error) {
	if c.corpusPath == "" || c.questionsPath == "" {
		return nil, fmt.Errorf(`search/custom-v0 needs options "corpus" and "questions" (JSONL paths)`)
	}
	cp, err := fileKey(c.corpusPath)
	if err != nil {
		return nil, fmt.Errorf("option \"corpus\": %w", err)
	}
	qp, err := fileKey(c.questionsPath)
	if err != nil {
		return nil, fmt.Errorf("option \"questions\": %w", err)
	}
	return s.get(ctx, "custom|"+cp+"|"+qp+"|"+c.cacheDir, func(ctx context.Context) (*database, error) {
		// Validate everything before building anything, so a bad file
		// leaves no index behind.
		cor, err := corpus.LoadDocs(c.corpusPath)
		if err != nil {
			return nil, fmt.Errorf("import corpus: %w", err)
		}
		qs, err := corpus.LoadQuestions(c.questionsPath, cor)
		if err != nil {
			return nil, fmt.Errorf("import questions: %w", err)
		}
		return s.open(ctx, c, cor, qs, c.corpusPath)
	})
}

// fileKey identifies a file's current version without reading it.
func fileKey(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("stat: %w", err)
	}
	return fmt.Sprintf("%s@%d@%d", abs, st.Size(), st.ModTime().UnixNano()), nil
}

func (s *store) open(ctx context.Context, c config, cor *corpus.Corpus, qs []corpus.Question, source string) (*database, error) {
	ix, err := index.Open(ctx, c.cacheDir, cor, s.indexOptions(c))
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	db := &database{corpus: cor, questions: qs, index: ix, hash: cor.Hash(), source: source, byTask: map[string][]int{}}
	for i, q := range qs {
		db.byTask["all"] = append(db.byTask["all"], i)
		if q.Hops >= 1 && q.Hops <= 4 {
			t := fmt.Sprintf("%dhop", q.Hops)
			db.byTask[t] = append(db.byTask[t], i)
		}
		if q.Kind == "bridge" || q.Kind == "comparison" {
			db.byTask[q.Kind] = append(db.byTask[q.Kind], i)
		}
	}
	return db, nil
}

// taskIDs lists the tasks a database has questions for, in spec order.
func (db *database) taskIDs() []string {
	var out []string
	for _, t := range allTasks {
		if len(db.byTask[t.ID]) > 0 {
			out = append(out, t.ID)
		}
	}
	return slices.Clip(out)
}
