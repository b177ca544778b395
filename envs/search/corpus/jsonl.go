package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrInvalid is wrapped by every validation error of an import.
var ErrInvalid = errors.New("invalid JSONL")

// LineError is a validation error at one line (1-based) and field of a
// JSONL file, e.g. `questions.jsonl:12: field "answers": must be a
// non-empty array of strings`.
type LineError struct {
	Path  string
	Line  int
	Field string // empty when the whole line is at fault
	Msg   string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: field %q: %s", e.Path, e.Line, e.Field, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *LineError) Unwrap() error { return ErrInvalid }

// LoadDocs reads a JSONL corpus, one {"id","title","text"} object a line.
// Blank lines are skipped; unknown fields are ignored.
func LoadDocs(path string) (*Corpus, error) {
	var docs []Doc
	seen := map[string]int{}
	err := eachLine(path, func(line int, obj map[string]json.RawMessage) error {
		lerr := func(field, msg string) error { return &LineError{path, line, field, msg} }
		var d Doc
		var err error
		if d.ID, err = stringField(obj, "id", true); err != nil {
			return lerr("id", err.Error())
		}
		if d.Title, err = stringField(obj, "title", false); err != nil {
			return lerr("title", err.Error())
		}
		if d.Text, err = stringField(obj, "text", true); err != nil {
			return lerr("text", err.Error())
		}
		if first, dup := seen[d.ID]; dup {
			return lerr("id", fmt.Sprintf("duplicate id %q (first on line %d)", d.ID, first))
		}
		seen[d.ID] = line
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &LineError{Path: path, Line: 0, Msg: "no passages"}
	}
	return New(docs)
}

// LoadQuestions reads JSONL questions, one {"question", "answers",
// "supporting_ids"?, "id"?, "hops"?} object a line. Supporting ids must
// name passages of c.
func LoadQuestions(path string, c *Corpus) ([]Question, error) {
	var qs []Question
	err := eachLine(path, func(line int, obj map[string]json.RawMessage) error {
		lerr := func(field, msg string) error { return &LineError{path, line, field, msg} }
		var q Question
		var err error
		if q.ID, err = stringField(obj, "id", false); err != nil {
			return lerr("id", err.Error())
		}
		if q.ID == "" {
			q.ID = fmt.Sprintf("line-%d", line)
		}
		if q.Question, err = stringField(obj, "question", true); err != nil {
			return lerr("question", err.Error())
		}
		if q.Answers, err = stringsField(obj, "answers", true); err != nil {
			return lerr("answers", err.Error())
		}
		if q.SupportingIDs, err = stringsField(obj, "supporting_ids", false); err != nil {
			return lerr("supporting_ids", err.Error())
		}
		for i, id := range q.SupportingIDs {
			if _, ok := c.Get(id); !ok {
				return lerr(fmt.Sprintf("supporting_ids[%d]", i), fmt.Sprintf("no passage with id %q in the corpus", id))
			}
		}
		if raw, ok := obj["hops"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &q.Hops); err != nil || q.Hops < 0 {
				return lerr("hops", "must be a non-negative integer")
			}
		}
		if q.Hops == 0 {
			q.Hops = len(q.SupportingIDs)
		}
		qs = append(qs, q)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, &LineError{Path: path, Line: 0, Msg: "no questions"}
	}
	return qs, nil
}

// eachLine calls f with every non-blank line of path parsed as a JSON
// object; the first error stops the walk.
func eachLine(path string, f func(line int, obj map[string]json.RawMessage) error) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<16)
	for line := 1; ; line++ {
		// ReadBytes has no line length limit, unlike bufio.Scanner.
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var obj map[string]json.RawMessage
			if jerr := json.Unmarshal(b, &obj); jerr != nil || obj == nil {
				msg := "not a JSON object"
				if jerr != nil {
					msg += ": " + jerr.Error()
				}
				return &LineError{Path: path, Line: line, Msg: msg}
			}
			if ferr := f(line, obj); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

func stringField(obj map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", errors.New("missing (want a non-empty string)")
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("want a string, got %s", jsonKind(raw))
	}
	if required && strings.TrimSpace(s) == "" {
		return "", errors.New("must not be empty")
	}
	return s, nil
}

func stringsField(obj map[string]json.RawMessage, name string, required bool) ([]string, error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		if required {
			return nil, errors.New("missing (want a non-empty array of strings)")
		}
		return nil, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("want an array of strings, got %s", jsonKind(raw))
	}
	if required && len(ss) == 0 {
		return nil, errors.New("must not be empty")
	}
	for i, s := range ss {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("element %d is empty", i)
		}
	}
	return ss, nil
}

func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '[':
		return "an array (of something else)"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
