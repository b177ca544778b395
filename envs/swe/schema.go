package swe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mutant schemata: rather than building one test binary per mutant (a
// compile and a link, seconds each), all schema-able mutants of a
// package are compiled into a few test binaries, each mutant guarded by
// its id, and validated by running a binary with ENVGYM_SWE_MUTANT set
// (milliseconds). Mutants whose spans nest go into different binaries.
// The rewrite keeps every line where it was, so test output (file:line,
// stack traces) reads as the standalone mutant's would. A mutant the
// schema run keeps must also compile on its own (dropping a statement
// can leave a variable unused); that is checked with go/types, the type
// checker the compiler itself uses.

const mutantEnv = "ENVGYM_SWE_MUTANT"

// schemaPkg holds one package's schema binaries and type-check state.
type schemaPkg struct {
	repo, pkg string
	dir       string          // scratch dir with the binaries
	bin       map[int]string  // mutant id -> test binary
	ids       map[string]int  // mutation key -> id
	base      []string        // tests passing in the original
	baseSet   map[string]bool // same, as a set
	timeout   time.Duration

	tcMu  sync.Mutex // go/types importers are not safe for concurrent use
	fset  *token.FileSet
	imp   types.Importer
	files map[string][]byte // non-test Go files the build uses
}

func mutKey(m mutation) string { return fmt.Sprintf("%s:%d:%d:%s", m.File, m.Off, m.End, m.New) }

// buildSchemas builds the schema binaries of ms (the package's mutations)
// in a fresh scratch dir. Mutants whose schema form does not compile are
// left out (they are validated on their own).
func buildSchemas(ctx context.Context, pkg, repo string, ms []mutation, base []string) (*schemaPkg, error) {
	dir, err := os.MkdirTemp("", "envgym-swe-schema-")
	if err != nil {
		return nil, fmt.Errorf("swe: %w", err)
	}
	sp := &schemaPkg{repo: repo, pkg: pkg, dir: dir, bin: map[int]string{}, ids: map[string]int{}, base: base,
		baseSet: map[string]bool{}, timeout: 30 * time.Second, fset: token.NewFileSet(), files: map[string][]byte{}}
	for _, b := range base {
		sp.baseSet[b] = true
	}
	sp.imp = importer.ForCompiler(sp.fset, "gc", nil)
	entries, err := os.ReadDir(repo)
	if err != nil {
		return nil, fmt.Errorf("swe: %w", err)
	}
	pkgName := ""
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, _ := build.Default.MatchFile(repo, name); !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repo, name))
		if err != nil {
			return nil, fmt.Errorf("swe: %w", err)
		}
		sp.files[name] = b
		if pkgName == "" {
			if f, err := parser.ParseFile(token.NewFileSet(), name, b, parser.PackageClauseOnly); err == nil {
				pkgName = f.Name.Name
			}
		}
	}
	// Group schema-able mutants into sets without overlapping spans,
	// first fit in source order.
	var sets [][]mutation
	sorted := make([]mutation, 0, len(ms))
	for _, m := range ms {
		if m.Wrap != "" && sp.files[m.File] != nil {
			sorted = append(sorted, m)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].File != sorted[j].File {
			return sorted[i].File < sorted[j].File
		}
		return sorted[i].SOff < sorted[j].SOff
	})
	for _, m := range sorted {
		placed := false
		for i, set := range sets {
			last := set[len(set)-1]
			if last.File != m.File || last.SEnd <= m.SOff {
				sets[i] = append(set, m)
				placed = true
				break
			}
		}
		if !placed {
			sets = append(sets, []mutation{m})
		}
	}
	id := 0
	for si, set := range sets {
		ids := make([]int, len(set))
		for i := range set {
			id++
			ids[i] = id
		}
		bin, kept, err := sp.buildSet(ctx, si, pkgName, set, ids)
		if err != nil {
			return nil, err
		}
		for i, m := range set {
			if kept[i] {
				sp.ids[mutKey(m)] = ids[i]
				sp.bin[ids[i]] = bin
			}
		}
	}
	return sp, nil
}

var compileErrLine = regexp.MustCompile(`(?m)^\./([^:\s]+\.go):(\d+):\d+: `)

// buildSet writes one schema copy of the repo and builds its test
// binary, dropping mutants on lines the compiler rejects and retrying.
func (sp *schemaPkg) buildSet(ctx context.Context, si int, pkgName string, set []mutation, ids []int) (string, []bool, error) {
	kept := make([]bool, len(set))
	for i := range kept {
		kept[i] = true
	}
	src := filepath.Join(sp.dir, fmt.Sprintf("set%d", si))
	bin := filepath.Join(src, "pkg.test")
	for attempt := 0; attempt < 8; attempt++ {
		os.RemoveAll(src)
		if err := copyTree(sp.repo, src); err != nil {
			return "", nil, err
		}
		byFile := map[string][]int{}
		for i, m := range set {
			if kept[i] {
				byFile[m.File] = append(byFile[m.File], i)
			}
		}
		if len(byFile) == 0 {
			return "", kept, nil
		}
		for file, idx := range byFile {
			orig := sp.files[file]
			var b bytes.Buffer
			at := 0
			for _, i := range idx { // in source order, not overlapping
				m := set[i]
				b.Write(orig[at:m.SOff])
				b.WriteString(strings.ReplaceAll(m.Wrap, idMark, strconv.Itoa(ids[i])))
				at = m.SEnd
			}
			b.Write(orig[at:])
			if err := os.WriteFile(filepath.Join(src, file), b.Bytes(), 0o644); err != nil {
				return "", nil, fmt.Errorf("swe: %w", err)
			}
		}
		sw := fmt.Sprintf("package %s\n\nimport (\n\t\"os\"\n\t\"strconv\"\n)\n\n// envgymMut selects the active mutant (0: none).\nvar envgymMut, _ = strconv.Atoi(os.Getenv(%q))\n", pkgName, mutantEnv)
		if err := os.WriteFile(filepath.Join(src, "envgym_mutant_switch.go"), []byte(sw), 0o644); err != nil {
			return "", nil, fmt.Errorf("swe: %w", err)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(bctx, "go", "test", "-c", "-vet=off", "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			// With no mutant active the schema must pass exactly the
			// original's tests, or none of its mutants is trusted.
			rep, rerr := sp.run(ctx, bin, 0)
			if rerr != nil {
				return "", nil, rerr
			}
			if len(rep.Failed) > 0 || len(rep.Passed) != len(sp.base) {
				return "", make([]bool, len(set)), nil
			}
			for _, b := range sp.base {
				if !rep.Passed[b] {
					return "", make([]bool, len(set)), nil
				}
			}
			return bin, kept, nil
		}
		if ctx.Err() != nil {
			return "", nil, fmt.Errorf("swe: build schema: %w", ctx.Err())
		}
		// Drop the mutants on the lines the compiler names.
		dropped := false
		for _, mm := range compileErrLine.FindAllStringSubmatch(string(out), -1) {
			line, _ := strconv.Atoi(mm[2])
			for i, m := range set {
				if !kept[i] || m.File != mm[1] {
					continue
				}
				orig := sp.files[m.File]
				from := bytes.Count(orig[:m.SOff], []byte("\n")) + 1
				to := bytes.Count(orig[:m.SEnd], []byte("\n")) + 1
				if line >= from && line <= to {
					kept[i], dropped = false, true
				}
			}
		}
		if !dropped {
			// An error we cannot pin on a mutant: these go the slow way.
			return "", make([]bool, len(set)), nil
		}
	}
	return "", make([]bool, len(set)), nil
}

// schemaID is m's id in a built schema binary, 0 when it has none.
func (sp *schemaPkg) schemaID(m mutation) int { return sp.ids[mutKey(m)] }

// run runs a schema binary with mutant id active (0: none) in its own
// copy of the repo and reports per test.
func (sp *schemaPkg) run(parent context.Context, bin string, id int) (testReport, error) {
	ctx, cancel := context.WithTimeout(parent, sp.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.v", "-test.count=1", "-test.timeout=20s")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", mutantEnv, id))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		if parent.Err() != nil {
			return testReport{}, fmt.Errorf("swe: run schema binary: %w", parent.Err())
		}
		// A hang (or a machine too loaded to finish in time): refused,
		// as a task whose tests hang would grade slowly.
		return testReport{BuildFailed: true}, nil
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return testReport{}, fmt.Errorf("swe: run schema binary: %w", err)
	}
	return parseTestV(out.Bytes(), err != nil), nil
}

// parseTestV reads `go test -v` output into per-test results, as
// parseGoTestJSON does for -json: top-level tests only; a test running
// when the binary died (a panic) failed; tests that never ran are absent.
func parseTestV(out []byte, exitedNonZero bool) testReport {
	r := testReport{Passed: map[string]bool{}, Failed: map[string]bool{}, Output: map[string]*strings.Builder{}}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if name, ok := cutAny(trim, "=== RUN   ", "=== CONT  ", "=== NAME  ", "=== PAUSE "); ok {
			cur, _, _ = strings.Cut(name, "/")
			continue
		}
		if rest, ok := cutAny(trim, "--- PASS: ", "--- FAIL: ", "--- SKIP: "); ok {
			name, _, _ := strings.Cut(rest, " (")
			top, _, _ := strings.Cut(name, "/")
			cur = top
			if top == name {
				switch trim[4:8] {
				case "PASS":
					r.Passed[top] = true
				case "FAIL":
					r.Failed[top] = true
				}
			}
			continue
		}
		if cur == "" || trim == "PASS" || trim == "FAIL" {
			continue
		}
		b := r.Output[cur]
		if b == nil {
			b = &strings.Builder{}
			r.Output[cur] = b
		}
		if b.Len() < 8<<10 {
			b.WriteString(line + "\n")
		}
	}
	if exitedNonZero && cur != "" && !r.Passed[cur] && !r.Failed[cur] {
		r.Failed[cur] = true
	}
	return r
}

func cutAny(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return "", false
}

// compiles type-checks the package with m applied, as the compiler
// would; any error (an unused variable or import, a missing return)
// rejects the mutant.
func (sp *schemaPkg) compiles(m mutation) bool {
	sp.tcMu.Lock()
	defer sp.tcMu.Unlock()
	var files []*ast.File
	for name, b := range sp.files {
		if name == m.File {
			b = m.apply(b)
		}
		f, err := parser.ParseFile(sp.fset, name, b, parser.SkipObjectResolution)
		if err != nil {
			return false
		}
		files = append(files, f)
	}
	failed := false
	conf := types.Config{Importer: sp.imp, Error: func(error) { failed = true }}
	conf.Check(moduleName(sp.pkg), sp.fset, files, nil)
	return !failed
}

func (sp *schemaPkg) close() { os.RemoveAll(sp.dir) }

// validate runs m in its schema binary and keeps it as validateMutation
// would: it fails at least one test, passes all the others, and compiles
// on its own.
func (sp *schemaPkg) validate(ctx context.Context, m mutation) (Task, bool, error) {
	id := sp.schemaID(m)
	rep, err := sp.run(ctx, sp.bin[id], id)
	if err != nil {
		return Task{}, false, err
	}
	if !keepReport(rep, sp.base) || !sp.compiles(m) {
		return Task{}, false, nil
	}
	return taskFromReport(sp.pkg, sp.repo, m, rep, filepath.Dir(sp.bin[id]))
}
