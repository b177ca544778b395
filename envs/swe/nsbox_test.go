package swe

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func newTestBackend(t *testing.T) *Namespace {
	t.Helper()
	b, err := NewNamespace(NamespaceConfig{Dir: sandboxTestDir(t), GoCache: sharedTestGoCache(t)})
	if err != nil {
		t.Fatalf("namespace backend unavailable (the SWE env needs root and cgroup v1): %v", err)
	}
	return b
}

// sandboxTestDir is a temp dir the sandbox's nobody can traverse
// (t.TempDir's parent is private to root).
func sandboxTestDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "envgym-swe-test-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// sharedTestGoCache keeps one build cache across test runs, so the suite
// stays fast.
func sharedTestGoCache(t *testing.T) string {
	t.Helper()
	return filepath.Join(os.TempDir(), "envgym-swe-test-gocache")
}

func BenchmarkNamespaceExec(b *testing.B) {
	be, err := NewNamespace(NamespaceConfig{Dir: sandboxTestDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := be.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := s.Exec(context.Background(), "true", ExecOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
