package swe

import (
	"strings"
	"testing"
)

// FuzzParseAction: any string parses into a known tool with a legal
// number of string or integer arguments, or fails with an explanation.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		`view("main.go")`, `view("main.go", 3, 9)`, "create(`a.go`, \"package a\\n\")",
		`str_replace("a.go", "x", "y")`, `insert("a.go", 2, "z")`, `bash("go test ./...")`,
		`search("TODO", "pkg")`, `run_tests()`, `submit()`, `undo_edit("a.go")`,
		`view(1 + 2)`, `os.Exit(1)`, `view("a"`, `view(0x10)`, `view(99999999999999999999)`, `"x"`, ``, "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAction(s)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("parseAction(%q): empty error", s)
			}
			return
		}
		ar, ok := arity[a.Name]
		if !ok || len(a.Args) < ar[0] || len(a.Args) > ar[1] {
			t.Fatalf("parseAction(%q) = %+v: unknown tool or wrong arity", s, a)
		}
		for i, v := range a.Args {
			switch v.(type) {
			case string, int:
			default:
				t.Fatalf("parseAction(%q): argument %d is %T", s, i, v)
			}
		}
		again, err := parseAction(s)
		if err != nil || again.Name != a.Name || len(again.Args) != len(a.Args) {
			t.Fatalf("parseAction(%q) not deterministic: %+v vs %+v (%v)", s, a, again, err)
		}
	})
}
