// Package fspath resolves paths the way access checks need them.
package fspath

import "path/filepath"

// Real is p made absolute, with symbolic links resolved in its longest
// prefix that exists: a link inside an allowed directory cannot point
// outside it unnoticed, and a path that does not exist yet still resolves.
func Real(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
