package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLineErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.jsonl")
	os.WriteFile(p, []byte(`{"id":"a","title":"A","text":"x"}`+"\n"+`{"id":"b","title":["B"],"text":"y"}`+"\n"), 0o644)
	_, err := LoadDocs(p)
	var le *LineError
	if !errors.As(err, &le) || !errors.Is(err, ErrInvalid) || le.Line != 2 || le.Field != "title" {
		t.Fatalf("got %v", err)
	}
	if want := p + `:2: field "title": want a string, got an array (of something else)`; err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if _, err := LoadDocs(filepath.Join(dir, "missing.jsonl")); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestLongLinesAndHash(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.jsonl")
	long := make([]byte, 1<<20)
	for i := range long {
		long[i] = 'x'
	}
	os.WriteFile(p, []byte(`{"id":"a","title":"A","text":"`+string(long)+`"}`), 0o644)
	c, err := LoadDocs(p)
	if err != nil || c.Len() != 1 {
		t.Fatalf("1 MiB line: %v", err)
	}
	c2, _ := New([]Doc{{ID: "a", Title: "A", Text: string(long) + "y"}})
	if c.Hash() == c2.Hash() {
		t.Fatal("different corpora, same hash")
	}
}
