// Package corpus holds the data a search env plays on: passages (Doc),
// questions with gold answers and supporting passages (Question), and the
// JSONL import of both with validation errors that name line and field.
package corpus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Doc is one passage.
type Doc struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Question is one task: a question, its gold answers and, where known, the
// passages that support the answer.
type Question struct {
	ID            string   `json:"id,omitempty"`
	Question      string   `json:"question"`
	Answers       []string `json:"answers"`
	SupportingIDs []string `json:"supporting_ids,omitempty"`
	// Hops is the number of supporting passages needed (1–4 for generated
	// questions); 0 when unknown.
	Hops int `json:"hops,omitempty"`
	// Kind is "bridge" or "comparison" for generated questions.
	Kind string `json:"kind,omitempty"`
	// Queries[i] is a search query that retrieves SupportingIDs[i]; the
	// oracle uses them. Empty: the oracle searches the passage title.
	Queries []string `json:"queries,omitempty"`
}

// Corpus is a set of passages with lookup by id.
type Corpus struct {
	Docs []Doc
	byID map[string]int
}

// ErrDuplicateID reports two passages with the same id.
var ErrDuplicateID = errors.New("duplicate passage id")

// New indexes docs by id. Ids must be unique and non-empty.
func New(docs []Doc) (*Corpus, error) {
	c := &Corpus{Docs: docs, byID: make(map[string]int, len(docs))}
	for i, d := range docs {
		if d.ID == "" {
			return nil, fmt.Errorf("passage %d: empty id", i)
		}
		if j, dup := c.byID[d.ID]; dup {
			return nil, fmt.Errorf("passages %d and %d: %w %q", j, i, ErrDuplicateID, d.ID)
		}
		c.byID[d.ID] = i
	}
	return c, nil
}

// Len is the number of passages.
func (c *Corpus) Len() int { return len(c.Docs) }

// Get returns the passage with id.
func (c *Corpus) Get(id string) (Doc, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Doc{}, false
	}
	return c.Docs[i], true
}

// Hash identifies the content of the corpus; indexes are cached under it.
func (c *Corpus) Hash() string {
	h := sha256.New()
	for _, d := range c.Docs {
		h.Write([]byte(d.ID))
		h.Write([]byte{0})
		h.Write([]byte(d.Title))
		h.Write([]byte{0})
		h.Write([]byte(d.Text))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
