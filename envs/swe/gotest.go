package swe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// testReport is what `go test -json` said about top-level tests.
type testReport struct {
	Passed, Failed map[string]bool
	Output         map[string]*strings.Builder
	BuildFailed    bool
}

func parseGoTestJSON(out []byte) testReport {
	r := testReport{Passed: map[string]bool{}, Failed: map[string]bool{}, Output: map[string]*strings.Builder{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	pkgFailed, anyTest := false, false
	for sc.Scan() {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		if ev.Test == "" {
			if ev.Action == "fail" {
				pkgFailed = true
			}
			if ev.Action == "build-fail" {
				r.BuildFailed = true
			}
			continue
		}
		top, _, _ := strings.Cut(ev.Test, "/")
		switch ev.Action {
		case "output":
			b := r.Output[top]
			if b == nil {
				b = &strings.Builder{}
				r.Output[top] = b
			}
			if b.Len() < 8<<10 {
				b.WriteString(ev.Output)
			}
		case "pass":
			if top == ev.Test {
				r.Passed[top], anyTest = true, true
			}
		case "fail":
			if top == ev.Test {
				r.Failed[top], anyTest = true, true
			}
		}
	}
	if pkgFailed && !anyTest {
		r.BuildFailed = true
	}
	return r
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
