package swe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
)

// GeneratorVersion changes whenever the same seed would give other tasks;
// it is part of the cache key.
const GeneratorVersion = "2"

// DefaultPackages are GOROOT packages with quick tests that import only
// public std packages; each is copied under a module of its own.
// defaultPackages is read-only.
// (path, unicode/utf16, encoding/base64 and bufio import internal
// packages as of Go 1.26 and are skipped there.)
var defaultPackages = []string{
	"container/list", "container/ring", "container/heap", "path", "unicode/utf16",
	"encoding/hex", "encoding/base32", "encoding/base64", "encoding/ascii85", "encoding/csv",
	"text/tabwriter", "html", "bufio", "math/bits", "unicode/utf8",
	"regexp/syntax", "text/scanner", "encoding/pem", "go/token", "image/color", "mime/quotedprintable",
}

// DefaultPackages returns the default source packages (a fresh slice).
func DefaultPackages() []string { return append([]string(nil), defaultPackages...) }

// GenConfig configures Generate.
type GenConfig struct {
	Seed     int64
	N        int      // tasks wanted
	Packages []string // GOROOT packages; default DefaultPackages()
	GoRoot   string   // default runtime.GOROOT() or /usr/local/go
	CacheDir string   // repos and generated task files live here
	Workers  int      // parallel builds and test runs; default the number of CPUs
	Progress io.Writer
}

// Generate returns N validated tasks for the seed, from the cache when
// they were made before. Same config, same tasks.
func Generate(ctx context.Context, cfg GenConfig) ([]Task, error) {
	if cfg.N <= 0 {
		return nil, fmt.Errorf("swe: generate: N must be positive")
	}
	if cfg.CacheDir == "" {
		return nil, fmt.Errorf("swe: generate: CacheDir is required")
	}
	if len(cfg.Packages) == 0 {
		cfg.Packages = DefaultPackages()
	}
	if cfg.GoRoot == "" {
		cfg.GoRoot = "/usr/local/go"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	key := fmt.Sprintf("tasks-v%s-%s-seed%d-n%d-%x.jsonl", GeneratorVersion, runtime.Version(), cfg.Seed, cfg.N, hashStrings(cfg.Packages))
	cached := filepath.Join(cfg.CacheDir, key)
	if tasks, err := LoadTaskFile(cached); err == nil {
		return tasks, nil
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("swe: generate: %w", err)
	}
	type cand struct {
		pkg  string
		repo string
		m    mutation
		base []string // tests passing before
	}
	// Copy and baseline-test the packages in parallel; keep their order.
	type prepared struct {
		repo  string
		tests []string
		err   error
	}
	preps := make([]prepared, len(cfg.Packages))
	parallel(len(cfg.Packages), cfg.Workers, func(i int) {
		repo, tests, err := prepareRepo(ctx, cfg.GoRoot, cfg.Packages[i], filepath.Join(cfg.CacheDir, "repos"))
		preps[i] = prepared{repo, tests, err}
	})
	var cands []cand
	pkgMuts := map[string][]mutation{}
	for i, pkg := range cfg.Packages {
		repo, tests, err := preps[i].repo, preps[i].tests, preps[i].err
		if err != nil {
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "skip %s: %v\n", pkg, err)
			}
			continue
		}
		files, _ := filepath.Glob(filepath.Join(repo, "*.go"))
		sort.Strings(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("swe: generate: %w", err)
			}
			for _, m := range mutations(filepath.Base(f), src) {
				cands = append(cands, cand{pkg: pkg, repo: repo, m: m, base: tests})
				pkgMuts[pkg] = append(pkgMuts[pkg], m)
			}
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("swe: generate: no usable source package")
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5e5e))
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })

	// Each package's schema binaries are built on first need, once.
	type schemaSlot struct {
		once sync.Once
		sp   *schemaPkg
		err  error
	}
	slots := map[string]*schemaSlot{}
	for pkg := range pkgMuts {
		slots[pkg] = &schemaSlot{}
	}
	defer func() {
		for _, sl := range slots {
			if sl.sp != nil {
				sl.sp.close()
			}
		}
	}()

	var bar *progressbar.ProgressBar
	if cfg.Progress != nil {
		bar = progressbar.NewOptions(cfg.N, progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription("generating SWE tasks"), progressbar.OptionShowCount(), progressbar.OptionShowElapsedTimeOnFinish())
	}
	// Workers validate candidates in the seeded order, at most a window
	// ahead of the first unfinished one; valid tasks are taken strictly
	// in that order, so the result does not depend on scheduling, and
	// the bar moves as they come.
	type result struct {
		task Task
		ok   bool
		err  error
	}
	var (
		tasks      []Task
		mu         sync.Mutex
		cond       = sync.NewCond(&mu)
		results    = make([]*result, len(cands))
		cursor     int // first candidate not yet taken or refused
		dispatched int
		stop       bool
		firstErr   error
		window     = 4 * cfg.Workers
	)
	validate := func(c cand) result {
		sl := slots[c.pkg]
		sl.once.Do(func() { sl.sp, sl.err = buildSchemas(ctx, c.pkg, c.repo, pkgMuts[c.pkg], c.base) })
		if sl.err != nil {
			return result{err: sl.err}
		}
		var r result
		if sl.sp.schemaID(c.m) != 0 {
			r.task, r.ok, r.err = sl.sp.validate(ctx, c.m)
		} else {
			r.task, r.ok, r.err = validateMutation(ctx, c.pkg, c.repo, c.m, c.base)
		}
		return r
	}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				for !stop && dispatched < len(cands) && dispatched >= cursor+window {
					cond.Wait()
				}
				if stop || dispatched >= len(cands) {
					mu.Unlock()
					return
				}
				i := dispatched
				dispatched++
				mu.Unlock()

				r := validate(cands[i])

				mu.Lock()
				results[i] = &r
				for !stop && cursor < len(cands) && results[cursor] != nil {
					r := results[cursor]
					results[cursor] = nil
					cursor++
					switch {
					case r.err != nil:
						firstErr, stop = r.err, true
					case r.ok:
						r.task.InstanceID = fmt.Sprintf("gomut-s%d-%04d", cfg.Seed, len(tasks))
						tasks = append(tasks, r.task)
						if bar != nil {
							bar.Add(1)
						}
						stop = len(tasks) >= cfg.N
					}
				}
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(cfg.Progress)
	}
	if len(tasks) < cfg.N {
		return nil, fmt.Errorf("swe: generate: only %d of %d tasks validated", len(tasks), cfg.N)
	}
	var buf bytes.Buffer
	if err := WriteTasks(&buf, tasks); err != nil {
		return nil, err
	}
	tmp := cached + ".tmp" + randomID()
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("swe: generate: %w", err)
	}
	if err := os.Rename(tmp, cached); err != nil {
		return nil, fmt.Errorf("swe: generate: %w", err)
	}
	return tasks, nil
}

// parallel runs f(0..n-1) on at most workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func hashStrings(ss []string) uint32 {
	h := uint32(2166136261)
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * 16777619
		}
		h = (h ^ 0) * 16777619
	}
	return h
}

// moduleName is the module path a copied std package gets.
func moduleName(pkg string) string { return "example.com/" + strings.ReplaceAll(pkg, "/", "_") }

// prepareRepo copies a GOROOT package into its own module (once), checks
// its imports, runs its tests, and returns the dir and the passing tests.
func prepareRepo(ctx context.Context, goroot, pkg, reposDir string) (string, []string, error) {
	dir := filepath.Join(reposDir, strings.ReplaceAll(pkg, "/", "_"))
	okFile := filepath.Join(reposDir, strings.ReplaceAll(pkg, "/", "_")+".tests")
	if b, err := os.ReadFile(okFile); err == nil {
		return dir, strings.Fields(string(b)), nil
	}
	src := filepath.Join(goroot, "src", pkg)
	files, err := filepath.Glob(filepath.Join(src, "*.go"))
	if err != nil || len(files) == 0 {
		return "", nil, fmt.Errorf("no Go files in %s", src)
	}
	if _, err := os.Stat(filepath.Join(src, "testdata")); err == nil {
		return "", nil, fmt.Errorf("has testdata")
	}
	tmp := dir + ".tmp" + randomID()
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	mod := moduleName(pkg)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		fset := token.NewFileSet()
		af, err := parser.ParseFile(fset, f, b, parser.ImportsOnly)
		if err != nil {
			return "", nil, err
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == pkg {
				continue
			}
			if strings.Contains(p, "internal") || strings.HasPrefix(p, "vendor/") || strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
				return "", nil, fmt.Errorf("imports %s", p)
			}
		}
		b = bytes.ReplaceAll(b, []byte(strconv.Quote(pkg)), []byte(strconv.Quote(mod)))
		if err := os.WriteFile(filepath.Join(tmp, filepath.Base(f)), b, 0o644); err != nil {
			return "", nil, err
		}
	}
	gomod := fmt.Sprintf("module %s\n\ngo 1.24\n", mod)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", nil, err
	}
	out, err := hostGoTest(ctx, tmp, 60*time.Second)
	if err != nil {
		return "", nil, err
	}
	rep := parseGoTestJSON(out)
	if rep.BuildFailed || len(rep.Failed) > 0 || len(rep.Passed) == 0 {
		return "", nil, fmt.Errorf("baseline tests do not pass (%d failed, build failed %v)", len(rep.Failed), rep.BuildFailed)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", nil, err
	}
	tests := sortedKeys(rep.Passed)
	if err := os.WriteFile(okFile, []byte(strings.Join(tests, "\n")), 0o644); err != nil {
		return "", nil, err
	}
	return dir, tests, nil
}

// hostGoTest runs the default test command in dir on the host (generation
// runs trusted std code), killing the process group at the timeout.
func hostGoTest(parent context.Context, dir string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-json", "-count=1", "-vet=off", "-timeout=20s", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		if parent.Err() != nil {
			return out.Bytes(), fmt.Errorf("go test: %w", parent.Err())
		}
		return out.Bytes(), nil // a hang: callers see missing results
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return out.Bytes(), fmt.Errorf("go test: %w", err)
	}
	return out.Bytes(), nil
}

// validateMutation applies m to a scratch copy and keeps it when it
// builds, fails at least one test and passes all the others.
func validateMutation(ctx context.Context, pkg, repo string, m mutation, base []string) (Task, bool, error) {
	orig, err := os.ReadFile(filepath.Join(repo, m.File))
	if err != nil {
		return Task{}, false, fmt.Errorf("swe: %w", err)
	}
	if _, _, ok := m.edits(orig); !ok {
		return Task{}, false, nil
	}
	scratch, err := os.MkdirTemp("", "envgym-swe-gen-")
	if err != nil {
		return Task{}, false, fmt.Errorf("swe: %w", err)
	}
	defer os.RemoveAll(scratch)
	if err := copyTree(repo, scratch); err != nil {
		return Task{}, false, err
	}
	if err := os.WriteFile(filepath.Join(scratch, m.File), m.apply(orig), 0o644); err != nil {
		return Task{}, false, fmt.Errorf("swe: %w", err)
	}
	out, err := hostGoTest(ctx, scratch, 30*time.Second)
	if err != nil {
		return Task{}, false, err
	}
	rep := parseGoTestJSON(out)
	if !keepReport(rep, base) {
		return Task{}, false, nil
	}
	return taskFromReport(pkg, repo, m, rep, scratch)
}

// keepReport says whether a mutant's test results make a task: it
// builds, fails at least one test and passes all the other tests that
// passed before (none missing).
func keepReport(rep testReport, base []string) bool {
	if rep.BuildFailed || len(rep.Failed) == 0 || len(rep.Failed)+len(rep.Passed) != len(base) || len(rep.Passed) == 0 {
		return false
	}
	for _, b := range base {
		if !rep.Passed[b] && !rep.Failed[b] {
			return false
		}
	}
	return true
}

// taskFromReport writes the task of a kept mutant; dir is where its
// tests ran (stripped from the output).
func taskFromReport(pkg, repo string, m mutation, rep testReport, dir string) (Task, bool, error) {
	orig, err := os.ReadFile(filepath.Join(repo, m.File))
	if err != nil {
		return Task{}, false, fmt.Errorf("swe: %w", err)
	}
	bug, fix, ok := m.edits(orig)
	if !ok {
		return Task{}, false, nil
	}
	f2p := sortedKeys(rep.Failed)
	var ps strings.Builder
	fmt.Fprintf(&ps, "The package %s (a copy of Go's %s) has a regression: some of its tests fail.\n", moduleName(pkg), pkg)
	fmt.Fprintf(&ps, "Failing: %s\n\nTest output:\n", strings.Join(f2p, ", "))
	for _, t := range f2p {
		var o string
		if b := rep.Output[t]; b != nil {
			o = cleanTestOutput(b.String(), dir)
		}
		if len(o) > 1200 {
			o = o[:1200] + "\n[... output truncated]\n"
		}
		ps.WriteString(o)
		if ps.Len() > 3000 {
			break
		}
	}
	ps.WriteString("\nFix the code (not the tests) so that all tests pass.\n")
	return Task{
		Repo:             repo,
		ProblemStatement: ps.String(),
		BugPatch:         []Edit{bug},
		GoldPatch:        []Edit{fix},
		TestCmd:          DefaultTestCmd,
		FailToPass:       f2p,
		PassToPass:       sortedKeys(rep.Passed),
		Mutation:         m.Kind,
	}, true, nil
}

// copyTree copies the regular files of a directory tree.
func copyTree(src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("swe: copy %s: %w", src, err)
	}
	return nil
}

// cleanTestOutput drops go test's framing lines (they carry timings) and
// the scratch path, so the statement is the same on every run.
func cleanTestOutput(out, dir string) string {
	var b strings.Builder
	addr := regexp.MustCompile(`0x[0-9a-f]{6,}`) // pointers differ per run
	for _, line := range strings.SplitAfter(out, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "=== ") || strings.HasPrefix(trim, "--- ") || trim == "" {
			continue
		}
		b.WriteString(addr.ReplaceAllString(strings.ReplaceAll(line, dir+"/", ""), "0x…"))
	}
	return b.String()
}
