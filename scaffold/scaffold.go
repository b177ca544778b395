// Package scaffold writes a new env plugin's starting point (`gym init`):
// a Go module or a Python folder with a working env (seeded, with valid
// actions and an oracle), its plugin main, its tests, and the envgym SDK
// copied in, so it builds without this checkout.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	envgym "github.com/envgym/envgym"
	"github.com/envgym/envgym/gym"
)

//go:embed templates
var templates embed.FS

// Options say what to generate.
type Options struct {
	Name   string // the env's name: lower-case letters, digits, dashes
	Dir    string // where to write (default: ./Name); must not exist or be empty
	ID     string // env id (default "local/NAME-v0")
	Module string // Go module path (default "example.com/NAME")
	// SDK, when set, is a checkout of envgym that go.mod's replace points
	// at; empty copies the SDK into third_party/envgym.
	SDK string
	// Gym is the gym command the README and Makefile name (default "gym").
	Gym string
	// Tidy runs `go mod tidy` in the new module (resolving the SDK's
	// dependencies through the Go module proxy).
	Tidy bool
}

// ErrBadName is returned for a name that cannot name a Go package, a
// plugin and an env id at once.
var ErrBadName = errors.New("scaffold: bad name")

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)

func (o *Options) fill() error {
	if !namePattern.MatchString(o.Name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits and dashes, starting with a letter (e.g. warehouse)", ErrBadName, o.Name)
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if o.ID == "" {
		o.ID = "local/" + o.Name + "-v0"
	}
	if err := gym.ValidateID(o.ID); err != nil {
		return fmt.Errorf("scaffold: --id: %w", err)
	}
	if o.Module == "" {
		o.Module = "example.com/" + o.Name
	}
	if o.Gym == "" {
		o.Gym = "gym"
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("scaffold: %s exists and is not empty: choose another --dir", o.Dir)
	}
	return nil
}

type data struct {
	Name, Pkg, ID, Module, Gym, Dir string
}

func (o Options) data() data {
	return data{Name: o.Name, Pkg: strings.ReplaceAll(o.Name, "-", ""), ID: o.ID, Module: o.Module, Gym: o.Gym, Dir: o.Dir}
}

// Go writes a Go env module. It returns the files written, relative to
// o.Dir (the SDK copy as one entry).
func Go(o Options) ([]string, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	d := o.data()
	written, err := render("templates/go", o.Dir, d)
	if err != nil {
		return nil, err
	}
	sdkPath := "./third_party/envgym"
	if o.SDK != "" {
		abs, err := filepath.Abs(o.SDK)
		if err != nil {
			return nil, fmt.Errorf("scaffold: --sdk: %w", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "sdk", "serve.go")); err != nil {
			return nil, fmt.Errorf("scaffold: --sdk %s is not an envgym checkout (no sdk/serve.go)", o.SDK)
		}
		sdkPath = abs
	} else {
		if err := copySDK(filepath.Join(o.Dir, "third_party", "envgym")); err != nil {
			return nil, err
		}
		written = append(written, "third_party/envgym/")
	}
	gomod := fmt.Sprintf("module %s\n\ngo %s\n\nrequire github.com/envgym/envgym v0.0.0-00010101000000-000000000000\n\nreplace github.com/envgym/envgym => %s\n",
		o.Module, goVersion(), sdkPath)
	if err := os.WriteFile(filepath.Join(o.Dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	// The SDK's own checksums: tidy then verifies nothing it already knows.
	sum, err := envgym.SDK.ReadFile("go.sum")
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "go.sum"), sum, 0o644); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	written = append(written, "go.mod", "go.sum")
	if o.Tidy {
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir = o.Dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return written, fmt.Errorf("scaffold: go mod tidy in %s (it resolves the SDK's dependencies through the Go module proxy; run it again when online): %w\n%s", o.Dir, err, out)
		}
	}
	return written, nil
}

// Python writes a Python env folder with the envgym package beside main.py.
func Python(o Options) ([]string, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	written, err := render("templates/python", o.Dir, o.data())
	if err != nil {
		return nil, err
	}
	if err := copyTree("sdk/python/envgym", filepath.Join(o.Dir, "envgym"), func(p string) bool {
		return !strings.Contains(p, "__pycache__") && !strings.HasSuffix(p, ".pyc")
	}); err != nil {
		return nil, err
	}
	return append(written, "envgym/"), nil
}

// render writes every template under root into dir, dropping ".tmpl" and
// naming NAME after the env.
func render(root, dir string, d data) ([]string, error) {
	var written []string
	err := fs.WalkDir(templates, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Option("missingkey=error").Parse(string(b))
		if err != nil {
			return fmt.Errorf("scaffold: template %s: %w", p, err)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, d); err != nil {
			return fmt.Errorf("scaffold: template %s: %w", p, err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		rel = strings.ReplaceAll(rel, "NAME", d.Name)
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		written = append(written, rel)
		return os.WriteFile(dst, out.Bytes(), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	return written, nil
}

// copySDK writes the Go SDK's packages (without their tests) and a go.mod
// without this checkout's replace directives.
func copySDK(dst string) error {
	err := copyTree(".", dst, func(p string) bool {
		return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") && p != "sdkfs.go"
	})
	if err != nil {
		return err
	}
	mod, err := envgym.SDK.ReadFile("go.mod")
	if err != nil {
		return fmt.Errorf("scaffold: %w", err)
	}
	var keep []string
	inReplace := false
	for _, line := range strings.Split(string(mod), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "replace ("):
			inReplace = true
			continue
		case inReplace:
			inReplace = t != ")"
			continue
		case strings.HasPrefix(t, "replace "):
			continue
		}
		keep = append(keep, line)
	}
	return os.WriteFile(filepath.Join(dst, "go.mod"), []byte(strings.Join(keep, "\n")), 0o644)
}

// copyTree copies the embedded files under root that keep accepts.
func copyTree(root, dst string, keep func(string) bool) error {
	err := fs.WalkDir(envgym.SDK, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !keep(p) {
			return err
		}
		rel := p
		if root != "." {
			rel = strings.TrimPrefix(p, root+"/")
		}
		b, err := envgym.SDK.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("scaffold: copy the SDK: %w", err)
	}
	return nil
}

// goVersion is the go directive of this module's go.mod.
func goVersion() string {
	mod, _ := envgym.SDK.ReadFile("go.mod")
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return v
		}
	}
	return "1.26"
}

// embeddedPackages lists the Go package directories the SDK copy holds.
func embeddedPackages() map[string]bool {
	out := map[string]bool{}
	fs.WalkDir(envgym.SDK, ".", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".go") && path.Dir(p) != "." {
			out[path.Dir(p)] = true
		}
		return nil
	})
	return out
}
