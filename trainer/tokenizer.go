package trainer

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"
	"unicode"
)

// Token ids 0 and 1 are reserved.
const (
	padID = 0
	unkID = 1
)

// Tokenizer is a word-level tokenizer built on env text, with hashed
// bigram features appended so a bag of tokens keeps some word order
// ("row 2", "go north"). It is saved with every checkpoint.
type Tokenizer struct {
	Words   []string `json:"words"`   // id i+2 is Words[i]
	Buckets int      `json:"buckets"` // hashed bigram ids follow the words
	MaxLen  int      `json:"max_len"` // encoded length cap

	index map[string]int64
}

// Words splits text into lower-case alphanumeric words.
func splitWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// BuildTokenizer makes a vocabulary of the maxVocab most frequent words of texts.
func BuildTokenizer(texts []string, maxVocab, buckets, maxLen int) *Tokenizer {
	count := map[string]int{}
	for _, t := range texts {
		for _, w := range splitWords(t) {
			count[w]++
		}
	}
	words := make([]string, 0, len(count))
	for w := range count {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if count[words[i]] != count[words[j]] {
			return count[words[i]] > count[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > maxVocab {
		words = words[:maxVocab]
	}
	t := &Tokenizer{Words: words, Buckets: buckets, MaxLen: maxLen}
	t.init()
	return t
}

func (t *Tokenizer) init() {
	t.index = make(map[string]int64, len(t.Words))
	for i, w := range t.Words {
		t.index[w] = int64(i + 2)
	}
}

// Size is the number of token ids (embedding rows).
func (t *Tokenizer) Size() int { return len(t.Words) + 2 + t.Buckets }

// Encode gives word ids, then bigram ids, at most MaxLen in all; never empty.
func (t *Tokenizer) Encode(s string) []int64 {
	ws := splitWords(s)
	ids := make([]int64, 0, 2*len(ws))
	for _, w := range ws {
		id, ok := t.index[w]
		if !ok {
			id = unkID
		}
		ids = append(ids, id)
	}
	if t.Buckets > 0 {
		base := uint32(len(t.Words) + 2)
		for i := 1; i < len(ws); i++ {
			h := fnv.New32a()
			h.Write([]byte(ws[i-1] + " " + ws[i]))
			ids = append(ids, int64(base+h.Sum32()%uint32(t.Buckets)))
		}
	}
	if len(ids) > t.MaxLen {
		ids = ids[:t.MaxLen]
	}
	if len(ids) == 0 {
		ids = append(ids, unkID)
	}
	return ids
}

// maxLines caps the lines of one observation the policy reads.
const maxLines = 24

// EncodeLines encodes each non-empty line of s on its own (at most
// maxLines lines, the first ones), so a line's bigrams never straddle two
// lines and the policy can pool each line separately.
func (t *Tokenizer) EncodeLines(s string) [][]int64 {
	var out [][]int64
	for l := range strings.Lines(s) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		out = append(out, t.Encode(l))
		if len(out) == maxLines {
			break
		}
	}
	if len(out) == 0 {
		out = append(out, []int64{unkID})
	}
	return out
}

// Decode turns word ids back into space-separated words (bigram ids and
// padding are skipped; unknown words read "<unk>").
func (t *Tokenizer) Decode(ids []int64) string {
	var out []string
	for _, id := range ids {
		switch {
		case id == unkID:
			out = append(out, "<unk>")
		case id >= 2 && int(id) < len(t.Words)+2:
			out = append(out, t.Words[id-2])
		}
	}
	return strings.Join(out, " ")
}

// Save writes the tokenizer as JSON.
func (t *Tokenizer) Save(path string) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("trainer: encode tokenizer: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("trainer: save tokenizer: %w", err)
	}
	return nil
}

// LoadTokenizer reads a tokenizer saved by Save.
func LoadTokenizer(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer: load tokenizer: %w", err)
	}
	var t Tokenizer
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("trainer: decode tokenizer %s: %w", path, err)
	}
	t.init()
	return &t, nil
}
