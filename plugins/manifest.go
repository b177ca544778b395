// Package plugins is the host side of env plugins: it discovers plugin
// binaries and their manifests, verifies checksums, starts each plugin in
// a sandboxed process over go-plugin, supervises it (health checks,
// restarts) and exposes every env it serves as a plain gym.Env.
package plugins

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/envgym/envgym/gym"
)

// ManifestFile is the name of a plugin's manifest inside its directory:
// DIR/NAME/plugin.json next to the binary it names.
const ManifestFile = "plugin.json"

// Manifest describes one plugin binary.
type Manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Binary  string `json:"binary"` // relative to the manifest's directory
	// Interpreter runs Binary as a script (e.g. ["/usr/bin/python3"]).
	// Then SHA256 covers every file of the plugin's directory (TreeSHA256),
	// not the interpreter.
	Interpreter []string `json:"interpreter,omitempty"`
	SHA256      string   `json:"sha256"` // hex; refused on mismatch
	Envs        []string `json:"envs"`   // env ids the plugin serves
	Sandbox     Sandbox  `json:"sandbox"`
	// Specs are the full specs of Envs (tasks, limits, capabilities),
	// recorded at install so the host knows them without starting the
	// plugin. Optional: manifests written before them still load.
	Specs []gym.Spec `json:"specs,omitempty"`
	// Source is the file (or script) it was installed from, and
	// SourceStamp the sizes and times of what was copied from it: gym run
	// and gym list warn when the source changed since (a rebuild or an
	// edit not installed yet).
	Source      string `json:"source,omitempty"`
	SourceStamp string `json:"source_stamp,omitempty"`

	path string // of the manifest file itself
}

// Sandbox is the isolation asked for by a plugin. The zero value is the
// strictest: no network, default memory and process limits.
type Sandbox struct {
	Network  bool `json:"network"`   // false: own network namespace with loopback only
	MemoryMB int  `json:"memory_mb"` // cgroup memory limit; 0: DefaultMemoryMB
	MaxPids  int  `json:"max_pids"`  // cgroup pids limit; 0: DefaultMaxPids
	// HostFiles shares the host's files with the plugin as they are (no
	// mount namespace): only for debugging a plugin's sandbox.
	HostFiles bool `json:"host_files,omitempty"`
	// Writable host paths besides the plugin's scratch and cache
	// directories; ReadOnly host paths made visible (e.g. under /root).
	Writable []string `json:"writable,omitempty"`
	ReadOnly []string `json:"read_only,omitempty"`
	// Docker leaves the Docker socket reachable (and, for an unprivileged
	// plugin, its group): Docker is root on the host, so only for a
	// plugin that must run containers (swe). Hidden otherwise.
	Docker bool `json:"docker,omitempty"`
	// Root runs the plugin as root with the capabilities a sandboxing env
	// needs (swe's namespace backend makes user namespaces, mounts and
	// cgroups). Otherwise it runs as an unprivileged uid of its own.
	Root bool `json:"root,omitempty"`
	// Env names host environment variables passed to the plugin besides
	// the sandbox's allowlist (PATH, LANG, ...; see pluginEnv).
	Env []string `json:"env,omitempty"`
}

// Defaults for unset sandbox limits.
const (
	DefaultMemoryMB = 2048
	DefaultMaxPids  = 512
)

// Limits fills defaults.
func (s Sandbox) Limits() Sandbox {
	if s.MemoryMB == 0 {
		s.MemoryMB = DefaultMemoryMB
	}
	if s.MaxPids == 0 {
		s.MaxPids = DefaultMaxPids
	}
	return s
}

// Path is where the manifest was read from.
func (m Manifest) Path() string { return m.path }

// BinaryPath is the absolute path of the plugin binary.
func (m Manifest) BinaryPath() string {
	if filepath.IsAbs(m.Binary) {
		return m.Binary
	}
	return filepath.Join(filepath.Dir(m.path), m.Binary)
}

// FieldError names the manifest file and field that are wrong.
type FieldError struct {
	File, Field, Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("plugin manifest %s: field %q: %s", e.File, e.Field, e.Problem)
}

// LoadManifest reads and validates a manifest file.
func LoadManifest(path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("plugin manifest: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("plugin manifest %s: %w", path, err)
	}
	m.path = path
	return m, m.Validate()
}

// Validate checks every field and names the first bad one.
func (m Manifest) Validate() error {
	bad := func(field, problem string) error { return &FieldError{File: m.path, Field: field, Problem: problem} }
	switch {
	case ValidateName(m.Name) != nil:
		return bad("name", ValidateName(m.Name).Error())
	case m.Version == "":
		return bad("version", "must not be empty")
	case m.Binary == "":
		return bad("binary", "must name the plugin executable")
	case len(m.SHA256) != 64 || !isHex(m.SHA256):
		return bad("sha256", "must be the 64-digit hex SHA-256 of the binary")
	case len(m.Envs) == 0:
		return bad("envs", "must list at least one env id")
	case m.Sandbox.MemoryMB < 0:
		return bad("sandbox.memory_mb", "must be >= 0")
	case m.Sandbox.MaxPids < 0:
		return bad("sandbox.max_pids", "must be >= 0")
	}
	for field, paths := range map[string][]string{"sandbox.writable": m.Sandbox.Writable, "sandbox.read_only": m.Sandbox.ReadOnly} {
		for i, p := range paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
				return bad(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("must be an absolute path other than / (got %q)", p))
			}
		}
	}
	for i, k := range m.Sandbox.Env {
		if k == "" || strings.ContainsAny(k, "= \t\n\x00") {
			return bad(fmt.Sprintf("sandbox.env[%d]", i), fmt.Sprintf("must be the name of an environment variable (got %q)", k))
		}
	}
	for i, id := range m.Envs {
		if err := gym.ValidateID(id); err != nil {
			return bad(fmt.Sprintf("envs[%d]", i), err.Error())
		}
	}
	for i, s := range m.Specs {
		if !slices.Contains(m.Envs, s.ID) {
			return bad(fmt.Sprintf("specs[%d].id", i), fmt.Sprintf("%q is not among envs %v", s.ID, m.Envs))
		}
	}
	return nil
}

// Spec returns the recorded spec of env id, if the manifest has one.
func (m Manifest) Spec(id string) (gym.Spec, bool) {
	for _, s := range m.Specs {
		if s.ID == id {
			return s, true
		}
	}
	return gym.Spec{}, false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// WriteManifest writes m to DIR/NAME/plugin.json.
func WriteManifest(path string, m Manifest) error {
	m.path = path
	if err := m.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Discover reads DIR/*/plugin.json. Bad manifests do not hide good ones:
// they come back as errors beside the manifests that loaded.
func Discover(dir string) ([]Manifest, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, []error{fmt.Errorf("plugin directory %s does not exist (build plugins with `make build`, or set --plugin-dir / GYM_PLUGIN_DIR)", dir)}
		}
		return nil, []error{fmt.Errorf("plugin directory: %w", err)}
	}
	var ms []Manifest
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") { // .NAME.installing-*: an install under way
			continue
		}
		p := filepath.Join(dir, e.Name(), ManifestFile)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		m, err := LoadManifest(p)
		if err == nil && m.Name != e.Name() {
			// The name picks the plugin's cache and scratch directories: a
			// manifest may not take another plugin's (or a reserved) name.
			err = &FieldError{File: p, Field: "name", Problem: fmt.Sprintf("%q differs from its folder's name %q", m.Name, e.Name())}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, errs
}

// ErrChecksum is wrapped by the error of a plugin whose binary does not
// match its manifest.
var ErrChecksum = errors.New("plugin binary checksum mismatch")

// DefaultDir is where plugins are looked for when no directory is given:
// $GYM_PLUGIN_DIR, else the user's cache directory.
func DefaultDir() string {
	if d := os.Getenv("GYM_PLUGIN_DIR"); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "envgym", "plugins")
	}
	return filepath.Join(os.TempDir(), "envgym", "plugins")
}
