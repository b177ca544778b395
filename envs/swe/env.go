package swe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
)

// Env ids.
const (
	GenID    = "swe/gomut-v0"
	CustomID = "swe/custom-v0"
	Version  = "0.1.0"
)

const (
	maxObs       = 8 << 10
	gradeTimeout = 120 * time.Second
)

// Env is one episode at a time in its own sandbox.
type Env struct {
	spec    gym.Spec
	backend Backend
	load    func(ctx context.Context) ([]Task, error)
	tasks   []Task

	// closeBackend, when set, releases the backend on Close (the env
	// made it).
	closeBackend func() error

	task   *Task
	sb     Sandbox
	root   *os.Root
	undo   map[string][]string
	closed bool
	// goldApplied marks the gold edits the episode has applied, so the
	// oracle moves on even when an edit leaves its old text in place
	// (a line inserted above an existing one).
	goldApplied []bool
}

var (
	_ gym.Env    = (*Env)(nil)
	_ gym.Oracle = (*Env)(nil)
)

func (e *Env) Spec() gym.Spec { return e.spec }

// Close ends the episode (its sandbox is removed) and releases the
// backend; later calls fail with gym.ErrClosed. Closing twice is a no-op.
func (e *Env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	err := e.endEpisode()
	if e.closeBackend != nil {
		err = errors.Join(err, e.closeBackend())
	}
	return err
}

func (e *Env) endEpisode() error {
	var err error
	if e.root != nil {
		e.root.Close()
		e.root = nil
	}
	if e.sb != nil {
		err = e.sb.Close()
		e.sb = nil
	}
	return err
}

// Reset starts a fresh sandbox with the task's buggy repo.
func (e *Env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if e.closed {
		return gym.Observation{}, gym.ErrClosed
	}
	if e.tasks == nil {
		tasks, err := e.load(ctx)
		if err != nil {
			return gym.Observation{}, fmt.Errorf("swe: load tasks: %w", err)
		}
		e.tasks = tasks
	}
	if err := e.endEpisode(); err != nil {
		return gym.Observation{}, err
	}
	var t *Task
	if opts.TaskID != "" {
		for i := range e.tasks {
			if e.tasks[i].InstanceID == opts.TaskID {
				t = &e.tasks[i]
			}
		}
		if t == nil {
			return gym.Observation{}, fmt.Errorf("swe: %w %q", gym.ErrUnknownTask, opts.TaskID)
		}
	} else {
		n := int64(len(e.tasks))
		t = &e.tasks[((opts.Seed%n)+n)%n]
	}
	// The shared build cache gets this repo's dependencies once per
	// machine (a no-op afterwards); a failure only makes tests slower.
	var warmErr error
	if w, ok := e.backend.(cacheWarmer); ok {
		warmErr = w.WarmCache(ctx, t.Repo)
	}
	start := time.Now()
	sb, err := e.backend.Start(ctx)
	if err != nil {
		return gym.Observation{}, fmt.Errorf("swe: start sandbox: %w", err)
	}
	e.sb = sb
	if err := copyTree(t.Repo, sb.Workspace()); err != nil {
		e.endEpisode()
		return gym.Observation{}, err
	}
	root, err := os.OpenRoot(sb.Workspace())
	if err != nil {
		e.endEpisode()
		return gym.Observation{}, fmt.Errorf("swe: %w", err)
	}
	e.root = root
	for _, ed := range t.BugPatch {
		if err := e.applyEdit(ed); err != nil {
			e.endEpisode()
			return gym.Observation{}, fmt.Errorf("swe: task %s: bug_patch: %w", t.InstanceID, err)
		}
	}
	if err := chownTree(sb.Workspace()); err != nil {
		e.endEpisode()
		return gym.Observation{}, err
	}
	e.task, e.undo, e.goldApplied = t, map[string][]string{}, make([]bool, len(t.GoldPatch))
	var files []string
	entries, _ := os.ReadDir(sb.Workspace())
	for _, en := range entries {
		files = append(files, en.Name())
	}
	text := fmt.Sprintf("Task %s\n\n%s\nRepository files: %s\n", t.InstanceID, t.ProblemStatement, strings.Join(files, " "))
	info := map[string]any{gym.InfoTaskID: t.InstanceID, "ready_ms": float64(time.Since(start).Microseconds()) / 1000}
	if warmErr != nil {
		info["cache_warm_error"] = warmErr.Error()
	}
	if d, ok := sb.(interface{ DiskLimited() bool }); ok {
		info["disk_limited"] = d.DiskLimited()
	}
	return gym.Observation{Text: text, ValidActions: validActions(), Info: info}, nil
}

// cacheWarmer is a backend with a shared build cache to fill before a
// repo's first episode.
type cacheWarmer interface {
	WarmCache(ctx context.Context, repo string) error
}

func validActions() []string {
	return []string{`bash("cmd")`, `view("path")`, `view("path", start, end)`, `create("path", "content")`,
		`str_replace("path", "old", "new")`, `insert("path", line, "text")`, `undo_edit("path")`,
		`search("pattern")`, `search("pattern", "path")`, `run_tests()`, `submit()`}
}

func chownTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, sandboxUID, sandboxUID)
	})
	if err != nil {
		return fmt.Errorf("swe: chown workspace: %w", err)
	}
	return nil
}

func (e *Env) applyEdit(ed Edit) error {
	p, err := cleanRel(ed.Path)
	if err != nil {
		return err
	}
	b, err := e.root.ReadFile(p)
	if err != nil {
		return err
	}
	out, err := applyEdit(string(b), ed)
	if err != nil {
		return err
	}
	return e.root.WriteFile(p, []byte(out), 0o644)
}

func (e *Env) obs(text string) gym.Observation {
	if len(text) > maxObs {
		text = text[:maxObs] + fmt.Sprintf("\n[... truncated: %d bytes more]", len(text)-maxObs)
	}
	return gym.Observation{Text: text, ValidActions: validActions()}
}

// liveness is a sandbox that can tell whether it still runs (Docker's
// containers can die between steps; a namespace sandbox has no process
// between commands).
type liveness interface {
	Alive(ctx context.Context) error
}

// Step runs one tool call. (Registry.Make's gym.Enforced keeps the call
// order and the step limit.)
func (e *Env) Step(ctx context.Context, s string) (gym.StepResult, error) {
	if e.sb == nil {
		return gym.StepResult{}, gym.ErrNotReset
	}
	if l, ok := e.sb.(liveness); ok {
		if err := l.Alive(ctx); err != nil {
			// The sandbox is gone (its container was killed): every
			// later step would fail, so the episode ends here as the
			// infrastructure's failure, not the agent's.
			return gym.Failed(gym.StatusCrashed, fmt.Errorf("the sandbox died: %w", err)), nil
		}
	}
	gold := e.goldEdit(s)
	r, err := e.step(ctx, s)
	if err == nil && gold >= 0 && r.Status == gym.StatusOK {
		e.goldApplied[gold] = true
	}
	return r, err
}

// goldEdit is the index of the gold edit that action applies, or -1.
func (e *Env) goldEdit(action string) int {
	a, err := parseAction(action)
	if err != nil || a.Name != "str_replace" || len(a.Args) != 3 {
		return -1
	}
	var args [3]string
	for i := range args {
		if args[i], err = a.str(i); err != nil {
			return -1
		}
	}
	for i, ed := range e.task.GoldPatch {
		if ed.Path == args[0] && ed.Old == args[1] && ed.New == args[2] {
			return i
		}
	}
	return -1
}

func (e *Env) step(ctx context.Context, s string) (gym.StepResult, error) {
	a, err := parseAction(s)
	if err != nil {
		return gym.Invalid(e.obs(""), err.Error()), nil
	}
	switch a.Name {
	case "submit":
		return e.submit(ctx)
	case "run_tests":
		return e.runTests(ctx)
	case "bash":
		cmd, _ := a.str(0)
		return e.exec(ctx, cmd, 30*time.Second)
	case "search":
		pat, err := a.str(0)
		if err != nil {
			return gym.Invalid(e.obs(""), err.Error()), nil
		}
		where := "."
		if len(a.Args) > 1 {
			if where, err = a.str(1); err != nil {
				return gym.Invalid(e.obs(""), err.Error()), nil
			}
		}
		return e.exec(ctx, "grep -rn -e "+shellQuote(pat)+" -- "+shellQuote(where), 30*time.Second)
	}
	text, err := e.fileTool(a)
	if err != nil {
		return gym.Invalid(e.obs(""), err.Error()), nil
	}
	return gym.StepResult{Observation: e.obs(text), Status: gym.StatusOK}, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (e *Env) exec(ctx context.Context, cmd string, timeout time.Duration) (gym.StepResult, error) {
	res, err := e.sb.Exec(ctx, cmd, ExecOptions{Timeout: timeout})
	if err != nil {
		return gym.Failed(gym.StatusEnvError, fmt.Errorf("sandbox error: %w", err)), nil
	}
	text := string(res.Output)
	if res.Truncated {
		text += "\n[... output truncated]"
	}
	text += fmt.Sprintf("\n[exit code %d]", res.ExitCode)
	st := gym.StatusOK
	if res.TimedOut {
		text += fmt.Sprintf("\n[killed: timed out after %v]", timeout)
		st = gym.StatusTimeout
	}
	return gym.StepResult{Observation: e.obs(text), Status: st}, nil
}

func (e *Env) testCmd() string {
	if e.task.TestCmd != "" {
		return e.task.TestCmd
	}
	return DefaultTestCmd
}

// fileTool runs the edit tools on the host through os.Root, so symlinks
// made in the sandbox cannot lead outside the workspace.
func (e *Env) fileTool(a action) (string, error) {
	path, err := a.str(0)
	if err != nil {
		return "", err
	}
	p, err := cleanRel(path)
	if err != nil {
		return "", err
	}
	read := func() (string, error) {
		b, err := e.root.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, errors.Unwrap(err))
		}
		return string(b), nil
	}
	write := func(old, content string) error {
		if err := e.root.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		e.root.Lchown(p, sandboxUID, sandboxUID)
		e.undo[p] = append(e.undo[p], old)
		return nil
	}
	switch a.Name {
	case "view":
		if st, err := e.root.Stat(p); err == nil && st.IsDir() {
			f, err := e.root.Open(p)
			if err != nil {
				return "", err
			}
			defer f.Close()
			names, _ := f.Readdirnames(-1)
			return strings.Join(names, "\n"), nil
		}
		c, err := read()
		if err != nil {
			return "", err
		}
		lines := strings.Split(c, "\n")
		from, to := 1, len(lines)
		if len(a.Args) > 1 {
			if from, err = a.int(1); err != nil {
				return "", err
			}
		}
		if len(a.Args) > 2 {
			if to, err = a.int(2); err != nil {
				return "", err
			}
		}
		from, to = max(from, 1), min(to, len(lines))
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "%6d\t%s\n", i, lines[i-1])
		}
		return b.String(), nil
	case "create":
		content, err := a.str(1)
		if err != nil {
			return "", err
		}
		old, _ := read()
		if dir := filepath.Dir(p); dir != "." {
			if err := e.root.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
		}
		return "created " + path, write(old, content)
	case "str_replace":
		oldS, err := a.str(1)
		if err != nil {
			return "", err
		}
		newS, err := a.str(2)
		if err != nil {
			return "", err
		}
		c, err := read()
		if err != nil {
			return "", err
		}
		if oldS == "" {
			return "", fmt.Errorf("str_replace: old text is empty")
		}
		if n := strings.Count(c, oldS); n != 1 {
			return "", fmt.Errorf("str_replace: old text occurs %d times in %s, want exactly 1", n, path)
		}
		return "edited " + path, write(c, strings.Replace(c, oldS, newS, 1))
	case "insert":
		line, err := a.int(1)
		if err != nil {
			return "", err
		}
		text, err := a.str(2)
		if err != nil {
			return "", err
		}
		c, err := read()
		if err != nil {
			return "", err
		}
		lines := strings.SplitAfter(c, "\n")
		if line < 0 || line > len(lines) {
			return "", fmt.Errorf("insert: line %d out of range 0..%d", line, len(lines))
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		out := strings.Join(lines[:line], "") + text + strings.Join(lines[line:], "")
		return fmt.Sprintf("inserted after line %d of %s", line, path), write(c, out)
	case "undo_edit":
		h := e.undo[p]
		if len(h) == 0 {
			return "", fmt.Errorf("undo_edit: no edit of %s to undo", path)
		}
		if err := e.root.WriteFile(p, []byte(h[len(h)-1]), 0o644); err != nil {
			return "", err
		}
		e.undo[p] = h[:len(h)-1]
		return "reverted the last edit of " + path, nil
	}
	return "", fmt.Errorf("unknown tool %q", a.Name)
}

// submit restores the hidden tests, runs them, and scores.
func (e *Env) submit(ctx context.Context) (gym.StepResult, error) {
	if err := e.restoreTests(); err != nil {
		return gym.Failed(gym.StatusEnvError, fmt.Errorf("could not restore tests: %w", err)), nil
	}
	res, err := e.sb.Exec(ctx, e.testCmd(), ExecOptions{Timeout: gradeTimeout, MaxOutput: 16 << 20})
	if err != nil {
		return gym.Failed(gym.StatusEnvError, fmt.Errorf("grading failed to run: %w", err)), nil
	}
	rep := parseGoTestJSON(res.Output)
	f2p, p2p := 0, 0
	for _, t := range e.task.FailToPass {
		if rep.Passed[t] {
			f2p++
		}
	}
	for _, t := range e.task.PassToPass {
		if rep.Passed[t] {
			p2p++
		}
	}
	ok := f2p == len(e.task.FailToPass) && p2p == len(e.task.PassToPass)
	reward := 0.0
	if ok {
		reward = 1
	}
	info := map[string]any{
		gym.InfoSuccess:  ok,
		"fail_to_pass":   float64(f2p) / float64(max(1, len(e.task.FailToPass))),
		"pass_to_pass":   float64(p2p) / float64(max(1, len(e.task.PassToPass))),
		"build_failed":   rep.BuildFailed,
		"tests_timedout": res.TimedOut,
	}
	text := fmt.Sprintf("Submitted. FAIL_TO_PASS %d/%d passing, PASS_TO_PASS %d/%d passing. Reward %v.",
		f2p, len(e.task.FailToPass), p2p, len(e.task.PassToPass), reward)
	return gym.StepResult{Observation: gym.Observation{Text: text, Info: info}, Reward: reward, Terminated: true, Status: gym.StatusOK}, nil
}

// restoreTests puts back the original *_test.go files and removes any
// the agent added, so tests cannot be edited away.
func (e *Env) restoreTests() error {
	ws := e.sb.Workspace()
	var added []string
	fs.WalkDir(e.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			added = append(added, p)
		}
		return nil
	})
	for _, p := range added {
		if err := e.root.Remove(p); err != nil {
			return fmt.Errorf("swe: %w", err)
		}
	}
	err := filepath.WalkDir(e.task.Repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(e.task.Repo, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if dir := filepath.Dir(rel); dir != "." {
			e.root.MkdirAll(dir, 0o755)
		}
		if err := e.root.WriteFile(rel, b, 0o644); err != nil {
			return err
		}
		return os.Lchown(filepath.Join(ws, rel), sandboxUID, sandboxUID)
	})
	if err != nil {
		return fmt.Errorf("swe: restore tests: %w", err)
	}
	return nil
}

// OracleAction applies the gold patch with str_replace, then submits. It
// has no side effect (asking twice without stepping gives the same
// action): the first gold edit not yet applied whose old text is there,
// exactly once, is next; when none is left, submit().
func (e *Env) OracleAction(ctx context.Context) (string, error) {
	if e.task == nil || e.root == nil {
		return "", gym.ErrNotReset
	}
	for i, ed := range e.task.GoldPatch {
		if e.goldApplied[i] {
			continue
		}
		p, err := cleanRel(ed.Path)
		if err != nil {
			continue
		}
		b, err := e.root.ReadFile(p)
		if err == nil && strings.Count(string(b), ed.Old) == 1 {
			return fmt.Sprintf("str_replace(%q, %q, %q)", ed.Path, ed.Old, ed.New), nil
		}
	}
	return "submit()", nil
}

// runTests runs the task's tests and shows a summary: which tests pass
// and fail and the failures' output, without go test's timings (so the
// same code gives the same observation).
func (e *Env) runTests(ctx context.Context) (gym.StepResult, error) {
	res, err := e.sb.Exec(ctx, e.testCmd(), ExecOptions{Timeout: 2 * gradeTimeout, MaxOutput: 16 << 20})
	if err != nil {
		return gym.Failed(gym.StatusEnvError, fmt.Errorf("sandbox error: %w", err)), nil
	}
	if res.TimedOut {
		return gym.StepResult{Observation: e.obs(fmt.Sprintf("[killed: tests timed out after %v]", 2*gradeTimeout)), Status: gym.StatusTimeout}, nil
	}
	rep := parseGoTestJSON(res.Output)
	var b strings.Builder
	if rep.BuildFailed {
		b.WriteString("BUILD FAILED\n")
		for _, line := range strings.Split(string(res.Output), "\n") {
			var ev struct{ Action, Output string }
			switch {
			case !strings.HasPrefix(line, "{"):
				b.WriteString(line + "\n") // older go: compiler errors as plain lines
			case json.Unmarshal([]byte(line), &ev) == nil && ev.Action == "build-output":
				b.WriteString(ev.Output)
			}
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", len(rep.Passed), len(rep.Failed))
	for _, t := range sortedKeys(rep.Failed) {
		fmt.Fprintf(&b, "--- FAIL: %s\n%s", t, cleanTestOutput(rep.Output[t].String(), e.sb.Workspace()))
	}
	return gym.StepResult{Observation: e.obs(b.String()), Status: gym.StatusOK}, nil
}
