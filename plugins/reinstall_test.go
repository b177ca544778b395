package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyFile copies src to dst with dst's mode set to executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// An install that fails (here: a Python plugin with a syntax error) leaves
// the version installed before it running, and nothing half-installed.
// Before the staged install, the old folder was removed first and the new
// files stayed behind without a manifest.
func TestFailedInstallKeepsTheInstalledVersion(t *testing.T) {
	src := t.TempDir()
	copyDir(t, "../examples/python/guess", src)
	dir := t.TempDir()
	ctx := context.Background()
	m, err := Install(ctx, filepath.Join(src, "main.py"), dir, InstallOptions{Name: "pyguess"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "main.py"), []byte("import envgym\ndef broken(:\n"), 0o644)
	_, err = Install(ctx, filepath.Join(src, "main.py"), dir, InstallOptions{Name: "pyguess"})
	if err == nil {
		t.Fatal("installing a script with a syntax error succeeded")
	}
	// The message leads with Python's own, naming the user's file (not the
	// installed copy), without go-plugin's handshake boilerplate.
	msg := err.Error()
	if !strings.Contains(msg, "SyntaxError") || !strings.Contains(msg, filepath.Join(src, "main.py")) || strings.Contains(msg, "This usually means") {
		t.Fatalf("a syntax error at install reads:\n%s", msg)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "pyguess" {
		t.Fatalf("the plugin directory holds %v after a failed install, want only the installed pyguess", names)
	}
	h := New(Config{Dir: dir})
	defer h.Close()
	env, err := h.Make(ctx, m.Envs[0], nil)
	if err != nil {
		t.Fatalf("the version installed before no longer runs: %v", err)
	}
	env.Close()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateEnvIDsRefusedUnlessReplace(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	bin := filepath.Join(binDir, "gym-plugin-guess")
	if _, err := Install(ctx, bin, dir, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Install(ctx, bin, dir, InstallOptions{Name: "guess-fork"})
	if !errors.Is(err, ErrDuplicateEnv) || !strings.Contains(err.Error(), "example/guess-v0 (plugin guess)") || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("a second plugin serving example/guess-v0: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "guess-fork")); !os.IsNotExist(err) {
		t.Fatal("the refused plugin was installed anyway")
	}
	if _, err := Install(ctx, bin, dir, InstallOptions{Name: "guess-fork", Replace: true}); err != nil {
		t.Fatal(err)
	}
	ms, _ := Discover(dir)
	if len(ms) != 1 || ms[0].Name != "guess-fork" {
		t.Fatalf("after --replace the plugins are %v, want only guess-fork", ms)
	}
	// Reinstalling a plugin under its own name is no clash.
	if _, err := Install(ctx, bin, dir, InstallOptions{Name: "guess-fork"}); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSourceNoticed(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "gym-plugin-guess")
	copyFile(t, filepath.Join(binDir, "gym-plugin-guess"), src)
	m, err := Install(context.Background(), src, dir, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != src {
		t.Fatalf("source %q recorded, want %q", m.Source, src)
	}
	if why := m.StaleSource(); why != "" {
		t.Fatalf("fresh install reported stale: %s", why)
	}
	// Rebuilt to the same bytes (a new time): not stale.
	later := time.Now().Add(time.Minute)
	os.Chtimes(src, later, later)
	if why := m.StaleSource(); why != "" {
		t.Fatalf("same bytes, new time reported stale: %s", why)
	}
	// Rebuilt to other bytes: stale, and the message says how to fix it.
	f, _ := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("rebuilt"))
	f.Close()
	if why := m.StaleSource(); !strings.Contains(why, "changed since it was installed") || !strings.Contains(why, "gym plugin reinstall guess") {
		t.Fatalf("a changed source: %q", why)
	}
	// A script plugin: editing any file of its folder makes it stale.
	sdir := t.TempDir()
	copyDir(t, "../examples/python/guess", sdir)
	pm, err := Install(context.Background(), filepath.Join(sdir, "main.py"), dir, InstallOptions{Name: "pyguess"})
	if err != nil {
		t.Fatal(err)
	}
	if why := pm.StaleSource(); why != "" {
		t.Fatalf("fresh script install reported stale: %s", why)
	}
	os.WriteFile(filepath.Join(sdir, "helper.py"), []byte("X = 1\n"), 0o644)
	if why := pm.StaleSource(); why == "" {
		t.Fatal("a file added to the script's folder went unnoticed")
	}
	// The checksum refusal names the fix too.
	bad := filepath.Join(filepath.Dir(m.Path()), m.Binary)
	os.WriteFile(bad, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	h := New(Config{Dir: dir})
	defer h.Close()
	if _, err := h.Make(context.Background(), "example/guess-v0", nil); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "gym plugin reinstall guess") {
		t.Fatalf("a tampered binary: %v", err)
	}
}

func TestMissingSDKSaysHowToVendorIt(t *testing.T) {
	src := t.TempDir()
	b, err := os.ReadFile("../examples/python/guess/main.py")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "main.py"), b, 0o644)
	_, err = Install(context.Background(), filepath.Join(src, "main.py"), t.TempDir(), InstallOptions{Name: "nosdk"})
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "No module named 'envgym'") || !strings.Contains(err.Error(), "envgym vendor") {
		t.Fatalf("a plugin without its SDK: %v", err)
	}
}
