package plugins

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/fspath"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// reservedNames are not plugin names: "plugins" is the plugin directory's
// own name under the cache directory, where each plugin's cache lives.
var reservedNames = map[string]bool{"plugins": true, ".": true, "..": true}

// ValidateName checks a plugin name. The name becomes a folder of the
// plugin directory and of the cache and scratch trees, so it must be one
// plain path element that is not reserved.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q: want 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", name)
	}
	if reservedNames[name] {
		return fmt.Errorf("%q is reserved", name)
	}
	return nil
}

// errOverlap is wrapped by the error of a writable path that overlaps the
// plugin directory.
var errOverlap = errors.New("overlaps the plugin directory")

// checkWritable refuses writable paths of plugin name (its cache and
// scratch directories, sandbox.writable) that lie inside the plugin
// directory dir or contain it: a plugin that can write there can rewrite
// any plugin and its manifest (checksum included).
func checkWritable(dir, name string, writable []string) error {
	pd := fspath.Real(dir)
	paths := append(sandboxDirs(name), writable...)
	for _, w := range paths {
		rw := fspath.Real(w)
		if rw == pd || strings.HasPrefix(rw, pd+string(filepath.Separator)) || strings.HasPrefix(pd, rw+string(filepath.Separator)) || rw == "/" {
			return fmt.Errorf("plugin %s: writable path %s %w %s: refused", name, w, errOverlap, dir)
		}
	}
	return nil
}

// sandboxDirs are the scratch and cache directories of plugin name.
func sandboxDirs(name string) []string {
	scratch := filepath.Join(os.TempDir(), "envgym-sandbox", name)
	cache := filepath.Join(scratch, ".cache")
	if c, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(c, "envgym", name)
	}
	return []string{scratch, cache}
}

// InstallOptions tune Install.
type InstallOptions struct {
	Name    string  // default: the binary's name without "gym-plugin-"
	Version string  // default: the version of the first env it serves
	Sandbox Sandbox // isolation the manifest asks for
	// Interpreter, when set, makes bin a script run by it (e.g.
	// ["/usr/bin/python3"]); the script's whole directory is installed.
	Interpreter []string
	// Replace lets the plugin take env ids another installed plugin
	// serves; that plugin is removed.
	Replace bool
}

// Install copies a plugin binary into DIR/NAME/, asks it which envs it
// serves, and writes the manifest with the binary's checksum and the
// envs' full specs. Installing is the moment of trust: from then on the
// host refuses any other binary. A spec that declares no capabilities gets
// those of an instance made with no options (when that works).
func Install(ctx context.Context, bin, dir string, opts InstallOptions) (Manifest, error) {
	if len(opts.Interpreter) == 0 && strings.HasSuffix(bin, ".py") {
		opts.Interpreter = []string{DefaultPython}
	}
	name := opts.Name
	switch {
	case name != "":
	case len(opts.Interpreter) > 0: // scripts are main.py; their folder names them
		abs, err := filepath.Abs(bin)
		if err != nil {
			return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
		}
		name = filepath.Base(filepath.Dir(abs))
	default:
		name = strings.TrimPrefix(filepath.Base(bin), "gym-plugin-")
	}
	// Nothing is written or removed before the name is known to be safe:
	// it becomes a path (DIR/NAME, the cache and scratch directories).
	if err := ValidateName(name); err != nil {
		return Manifest{}, fmt.Errorf("install %s: plugin name: %w", bin, err)
	}
	if err := checkWritable(dir, name, opts.Sandbox.Writable); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	dest := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	// The new version is assembled and asked for its specs in a folder of
	// its own (Discover skips it), then swapped in: an install that fails
	// leaves the installed version as it was and nothing half-installed.
	stage, err := os.MkdirTemp(dir, "."+name+".installing-")
	if err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	defer os.RemoveAll(stage)
	// MkdirTemp's 0700 would lock out a plugin running as its own uid.
	if err := os.Chmod(stage, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m := Manifest{Name: name, Version: "0", Binary: filepath.Base(bin), Interpreter: opts.Interpreter, Sandbox: opts.Sandbox, path: filepath.Join(stage, ManifestFile)}
	if len(opts.Interpreter) > 0 {
		if err := copyTree(filepath.Dir(bin), stage); err != nil {
			return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
		}
	} else if err := copyExecutable(bin, filepath.Join(stage, filepath.Base(bin))); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	sum, err := m.ComputeSHA256()
	if err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m.SHA256 = sum
	if err := m.describe(ctx, dir); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m.Version = cmp.Or(opts.Version, m.Specs[0].Version)
	owners, err := m.shadows(dir, opts.Replace)
	if err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m.recordSource(bin)
	if err := WriteManifest(m.path, m); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	if err := os.RemoveAll(dest); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	if err := os.Rename(stage, dest); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m.path = filepath.Join(dest, ManifestFile)
	for _, o := range owners { // --replace: the plugins whose envs this one now serves
		if err := os.RemoveAll(filepath.Join(dir, o)); err != nil {
			return m, fmt.Errorf("install %s: remove the replaced plugin %s: %w", bin, o, err)
		}
	}
	return m, nil
}

// describe starts the staged plugin once and records the full specs of
// the envs it serves. A spec that declares no capabilities gets those of
// an instance made with no options (when that works).
func (m *Manifest) describe(ctx context.Context, dir string) error {
	p := &Plugin{m: *m, cfg: Config{Dir: dir, HealthInterval: -1}.withDefaults()}
	defer p.Stop()
	specs, err := p.Specs(ctx)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return errors.New("the plugin serves no env")
	}
	for _, s := range specs {
		m.Envs = append(m.Envs, s.ID)
		if len(s.Capabilities) == 0 {
			s.Capabilities = p.probeCapabilities(ctx, s.ID)
		}
		m.Specs = append(m.Specs, s)
	}
	return nil
}

// shadows finds the installed plugins (other than m's own name) that
// serve one of m's env ids: an error naming them, unless replace, when
// they are returned to be removed once m is in place. Two plugins serving
// one id would leave it to chance which one a user gets.
func (m Manifest) shadows(dir string, replace bool) ([]string, error) {
	installed, _ := Discover(dir)
	mine := map[string]bool{}
	for _, id := range m.Envs {
		mine[id] = true
	}
	var owners, clash []string
	for _, o := range installed {
		if o.Name == m.Name {
			continue
		}
		var ids []string
		for _, id := range o.Envs {
			if mine[id] {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			owners = append(owners, o.Name)
			clash = append(clash, fmt.Sprintf("%s (plugin %s)", strings.Join(ids, ", "), o.Name))
		}
	}
	if len(clash) > 0 && !replace {
		return nil, fmt.Errorf("%w: %s; remove it first (gym plugin remove NAME) or install with --replace", ErrDuplicateEnv, strings.Join(clash, "; "))
	}
	return owners, nil
}

// ErrDuplicateEnv is wrapped by the error of an install whose env ids
// another installed plugin serves.
var ErrDuplicateEnv = errors.New("env ids already served by an installed plugin")

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst) // atomic: a running plugin keeps its old inode
}

// DefaultPython runs .py plugins installed without an interpreter.
const DefaultPython = "/usr/bin/python3"

// copyTree copies the files under src into dst, skipping byte-code caches
// and any manifest already there. Symbolic links are followed, so a
// script folder can link to a shared SDK (examples/python/*/envgym) and
// the installed copy stands alone.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.Type()&os.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("follow %s: %w", path, err)
			}
			if st.IsDir() {
				real, err := filepath.EvalSymlinks(path)
				if err != nil {
					return err
				}
				if real == src || strings.HasPrefix(src, real+string(filepath.Separator)) {
					return fmt.Errorf("symlink %s points into its own parent: a cycle", path)
				}
				return copyTree(real, target)
			}
			return copyExecutable(path, target)
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular() || rel == ManifestFile:
			return nil
		}
		return copyExecutable(path, target)
	})
}

// probeCapabilities makes one instance of env id to learn its
// capabilities; nil when it cannot be made without options.
func (p *Plugin) probeCapabilities(ctx context.Context, id string) []string {
	r, err := p.Make(ctx, id, nil)
	if err != nil {
		return nil
	}
	defer r.Close()
	return gym.Capabilities(r)
}
