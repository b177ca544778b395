package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/internal/fspath"
)

// Env options are passed to the plugin as given, and some envs read files
// they name (swe's "tasks", "cache_dir"; web's "task_file"). Served, that
// would let any client make a plugin with host access read or copy host
// files of its choosing. So a served option that names a host path is
// refused unless it lies under a directory the operator allowed
// (Config.AllowPaths, gym serve --allow-path).
//
// An option names a host path when its key says so (gym.IsPathOption) or
// its string value looks like one
// (starts with /, ~, ./ or ../, is . or .., or is a file: URL). Values
// in nested objects and lists are checked too.

// checkOptions refuses opts (the request field named field) when one of
// its values names a host path outside the allowlist.
func (s *Server) checkOptions(field string, opts map[string]any) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.checkOption(field+"."+k, k, opts[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) checkOption(field, key string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		return s.checkOptions(field, v)
	case []any:
		for i, e := range v {
			if err := s.checkOption(fmt.Sprintf("%s[%d]", field, i), key, e); err != nil {
				return err
			}
		}
	case string:
		if !gym.IsPathOption(key) && !pathValue(v) {
			return nil
		}
		if len(s.cfg.AllowPaths) == 0 {
			return errorf(403, field, "option names a host path (%q): gym serve passes no host paths to envs unless started with --allow-path DIR", v)
		}
		if !s.pathAllowed(v) {
			return errorf(403, field, "option names a host path (%q) outside the allowed directories %v (an absolute path is needed)", v, s.cfg.AllowPaths)
		}
	}
	return nil
}

func pathValue(v string) bool {
	v = strings.TrimSpace(v)
	for _, p := range []string{"/", "~", "./", "../", `\`} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return v == "." || v == ".." || strings.HasPrefix(strings.ToLower(v), "file:")
}

// pathAllowed reports whether p, absolute and with symlinks resolved as
// far as it exists, lies under one of the allowed directories.
func (s *Server) pathAllowed(p string) bool {
	if !filepath.IsAbs(p) {
		return false
	}
	real := fspath.Real(filepath.Clean(p))
	for _, dir := range s.cfg.AllowPaths {
		d := fspath.Real(filepath.Clean(dir))
		if real == d || strings.HasPrefix(real, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// CheckAllowPaths validates --allow-path directories: each must exist and
// be a directory; they are returned absolute.
func CheckAllowPaths(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("--allow-path %s: %w", d, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("--allow-path %s: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("--allow-path %s: not a directory", d)
		}
		if abs == "/" {
			return nil, fmt.Errorf("--allow-path /: allowing the whole file system is the same as no allowlist; name the data directories")
		}
		out = append(out, abs)
	}
	return out, nil
}
