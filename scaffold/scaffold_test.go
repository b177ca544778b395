package scaffold

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gymBin is the gym CLI built from this checkout, for gym check and run.
var gymBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "envgym-scaffold-test")
	if err != nil {
		panic(err)
	}
	gymBin = filepath.Join(dir, "gym")
	// The sandbox init beside gym, as setup.sh builds it.
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../cmd/gym", "../cmd/gym-sandbox-init").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build gym: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sh runs a command in dir, with this test's deadline, and fails the test
// with its output when it fails.
func sh(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func TestEmbeddedSDKCoversEveryPackageItImports(t *testing.T) {
	out := sh(t, "..", nil, "go", "list", "-deps", "./sdk", "./sdk/envtest")
	have := embeddedPackages()
	for _, p := range strings.Fields(out) {
		rel, ok := strings.CutPrefix(p, "github.com/envgym/envgym/")
		if ok && !have[rel] {
			t.Errorf("the SDK imports %s, which sdkfs.go does not embed: add it to the go:embed line", p)
		}
	}
}

func TestBadNamesAndDirs(t *testing.T) {
	for _, name := range []string{"", "Warehouse", "1abc", "a b", "../x", "x/y"} {
		if _, err := Go(Options{Name: name, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "bad name") {
			t.Errorf("name %q: %v, want a bad-name error", name, err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644)
	if _, err := Python(Options{Name: "x", Dir: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a non-empty dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep.txt")); string(b) != "mine" {
		t.Error("a refused init touched the user's file")
	}
	if _, err := Go(Options{Name: "x", Dir: t.TempDir(), ID: "nope"}); err == nil || !strings.Contains(err.Error(), "--id") {
		t.Errorf("a bad id: %v", err)
	}
}

// The generated Go module builds with its generated go.mod alone (the
// default -mod=readonly: nothing left for the user to fix), outside this
// checkout, and passes go test, gym check and a gym run through the
// plugin host.
func TestGoEnvAsGenerated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "warehouse")
	if _, err := Go(Options{Name: "warehouse", Dir: dir, Gym: gymBin, Tidy: true}); err != nil {
		t.Fatal(err)
	}
	env := []string{"GOFLAGS=", "CGO_ENABLED=0"}
	sh(t, dir, env, "go", "vet", "./...")
	sh(t, dir, env, "go", "test", "-count=1", "./...")
	sh(t, dir, env, "go", "build", "-o", "bin/gym-plugin-warehouse", "./cmd/gym-plugin-warehouse")
	plugin := filepath.Join(dir, "bin", "gym-plugin-warehouse")
	if out := sh(t, dir, nil, gymBin, "check", plugin); !strings.Contains(out, "local/warehouse-v0") {
		t.Fatalf("gym check output does not name the env:\n%s", out)
	}
	pdir := t.TempDir()
	sh(t, dir, nil, gymBin, "--plugin-dir", pdir, "plugin", "install", plugin)
	out := sh(t, dir, nil, gymBin, "--plugin-dir", pdir, "--json", "run", "local/warehouse-v0", "--policy", "random", "--episodes", "3")
	if !strings.Contains(out, `"episodes": 3`) && !strings.Contains(out, `"episodes":3`) {
		t.Fatalf("gym run --json did not play 3 episodes:\n%s", out)
	}
	out = sh(t, dir, nil, gymBin, "--plugin-dir", pdir, "--json", "run", "local/warehouse-v0", "--policy", "oracle", "--episodes", "2")
	if !strings.Contains(out, `"success_rate": 1`) && !strings.Contains(out, `"success_rate":1`) {
		t.Fatalf("the oracle does not solve the generated env:\n%s", out)
	}
}

func TestPythonEnvAsGenerated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lights")
	if _, err := Python(Options{Name: "lights", Dir: dir, ID: "puzzles/lights-v0", Gym: gymBin}); err != nil {
		t.Fatal(err)
	}
	sh(t, dir, nil, "/usr/bin/python3", "-m", "unittest", "-q", "test_env")
	main := filepath.Join(dir, "main.py")
	if out := sh(t, dir, nil, gymBin, "check", main); !strings.Contains(out, "puzzles/lights-v0") {
		t.Fatalf("gym check output does not name the env:\n%s", out)
	}
	pdir := t.TempDir()
	sh(t, dir, nil, gymBin, "--plugin-dir", pdir, "plugin", "install", main, "--interpreter", "/usr/bin/python3")
	out := sh(t, dir, nil, gymBin, "--plugin-dir", pdir, "--json", "run", "puzzles/lights-v0", "--policy", "oracle", "--episodes", "2")
	if !strings.Contains(out, `"success_rate": 1`) && !strings.Contains(out, `"success_rate":1`) {
		t.Fatalf("the oracle does not solve the generated env:\n%s", out)
	}
}
