package swe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Task is one SWE-bench-like instance, one JSON object per JSONL line.
// The repo directory holds the code before the bug; BugPatch turns it into
// the state the agent starts from; GoldPatch fixes it again. Tests are run
// by TestCmd, which must print `go test -json` events; FAIL_TO_PASS must
// pass after a fix, PASS_TO_PASS must keep passing.
type Task struct {
	InstanceID       string   `json:"instance_id"`
	Repo             string   `json:"repo"` // local directory; relative paths are relative to the JSONL file
	ProblemStatement string   `json:"problem_statement"`
	BugPatch         []Edit   `json:"bug_patch,omitempty"`
	GoldPatch        []Edit   `json:"gold_patch,omitempty"`
	TestCmd          string   `json:"test_cmd,omitempty"` // default DefaultTestCmd
	FailToPass       []string `json:"FAIL_TO_PASS"`
	PassToPass       []string `json:"PASS_TO_PASS"`
	Mutation         string   `json:"mutation,omitempty"` // generated tasks: the operator used
}

// Edit replaces the one occurrence of Old in Path by New.
type Edit struct {
	Path string `json:"path"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// DefaultTestCmd runs a Go module's tests with JSON events.
const DefaultTestCmd = "go test -json -count=1 -vet=off ./..."

// Validate says which field is wrong and what was expected.
func (t *Task) Validate() error {
	switch {
	case t.InstanceID == "":
		return fieldError("instance_id", "must not be empty")
	case t.Repo == "":
		return fieldError("repo", "must name a local directory")
	case strings.TrimSpace(t.ProblemStatement) == "":
		return fieldError("problem_statement", "must not be empty")
	case len(t.FailToPass) == 0:
		return fieldError("FAIL_TO_PASS", "must list at least one test id")
	}
	if st, err := os.Stat(t.Repo); err != nil || !st.IsDir() {
		return fieldError("repo", fmt.Sprintf("%q is not a directory", t.Repo))
	}
	for name, edits := range map[string][]Edit{"bug_patch": t.BugPatch, "gold_patch": t.GoldPatch} {
		for i, e := range edits {
			if _, err := cleanRel(e.Path); err != nil {
				return fieldError(fmt.Sprintf("%s[%d].path", name, i), err.Error())
			}
			if e.Old == "" {
				return fieldError(fmt.Sprintf("%s[%d].old", name, i), "must not be empty")
			}
		}
	}
	return nil
}

// checkPatches applies the bug patch and then the gold patch, edit by
// edit, to the repo's files in memory: each edit's old text must occur
// exactly once where it applies, or the env could not set the task up
// (bug_patch) or its oracle could not solve it (gold_patch).
func (t *Task) checkPatches() error {
	files := map[string]string{}
	for _, p := range []struct {
		name  string
		edits []Edit
	}{{"bug_patch", t.BugPatch}, {"gold_patch", t.GoldPatch}} {
		for i, e := range p.edits {
			rel, _ := cleanRel(e.Path)
			content, ok := files[rel]
			if !ok {
				b, err := os.ReadFile(filepath.Join(t.Repo, rel))
				if err != nil {
					return fieldError(fmt.Sprintf("%s[%d].path", p.name, i), fmt.Sprintf("%q cannot be read in the repo: %v", e.Path, err))
				}
				content = string(b)
			}
			if n := strings.Count(content, e.Old); n != 1 {
				return fieldError(fmt.Sprintf("%s[%d].old", p.name, i), fmt.Sprintf(
					"occurs %d times in %s after the edits before it; it must occur exactly once so the edit applies unambiguously (include a neighbouring line)", n, e.Path))
			}
			files[rel] = strings.Replace(content, e.Old, e.New, 1)
		}
	}
	return nil
}

func fieldError(field, msg string) error { return fmt.Errorf("field %s: %s", field, msg) }

// LoadTasks reads JSONL; errors name the line and the field.
func LoadTasks(r io.Reader, baseDir string) ([]Task, error) {
	var out []Task
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var t Task
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("swe: tasks line %d: %w", line, err)
		}
		if t.Repo != "" && !filepath.IsAbs(t.Repo) {
			t.Repo = filepath.Join(baseDir, t.Repo)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("swe: tasks line %d: %w", line, err)
		}
		if err := t.checkPatches(); err != nil {
			return nil, fmt.Errorf("swe: tasks line %d: %w", line, err)
		}
		if prev, dup := seen[t.InstanceID]; dup {
			return nil, fmt.Errorf("swe: tasks line %d: field instance_id: %q already on line %d", line, t.InstanceID, prev)
		}
		seen[t.InstanceID] = line
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("swe: read tasks: %w", err)
	}
	return out, nil
}

// LoadTaskFile reads a JSONL file of tasks.
func LoadTaskFile(path string) ([]Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("swe: %w", err)
	}
	defer f.Close()
	return LoadTasks(f, filepath.Dir(path))
}

// WriteTasks writes tasks as JSONL.
func WriteTasks(w io.Writer, tasks []Task) error {
	enc := json.NewEncoder(w)
	for i := range tasks {
		if err := enc.Encode(&tasks[i]); err != nil {
			return fmt.Errorf("swe: write task %s: %w", tasks[i].InstanceID, err)
		}
	}
	return nil
}

// cleanRel checks a workspace-relative path.
func cleanRel(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty path")
	}
	if filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q must be relative to the repository root", p)
	}
	c := filepath.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leaves the repository", p)
	}
	return c, nil
}

// applyEdit applies e to content, which must hold e.Old exactly once.
func applyEdit(content string, e Edit) (string, error) {
	n := strings.Count(content, e.Old)
	if n != 1 {
		return "", fmt.Errorf("%s: old text found %d times, want exactly 1", e.Path, n)
	}
	return strings.Replace(content, e.Old, e.New, 1), nil
}
