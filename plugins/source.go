package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// recordSource notes where the plugin was installed from, so a later
// rebuild or edit that was not installed can be noticed (StaleSource).
func (m *Manifest) recordSource(bin string) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return
	}
	m.Source = abs
	m.SourceStamp = sourceStamp(abs, len(m.Interpreter) > 0)
}

// sourceStamp hashes the names, sizes and modification times of what an
// install copies from source: the binary, or a script's folder the way
// copyTree walks it (links followed, __pycache__ skipped). "" when it
// cannot be read.
func sourceStamp(source string, tree bool) string {
	h := sha256.New()
	if !tree {
		st, err := os.Stat(source)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%d %d", st.Size(), st.ModTime().UnixNano())
		return hex.EncodeToString(h.Sum(nil))
	}
	if err := stampTree(h, filepath.Dir(source), "", 0); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func stampTree(h io.Writer, dir, rel string, depth int) error {
	if depth > 16 {
		return fmt.Errorf("%s: links nest too deep", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "__pycache__" || (rel == "" && e.Name() == ManifestFile) {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name())) // follows links, as copyTree does
		if err != nil {
			return err
		}
		name := filepath.Join(rel, e.Name())
		if st.IsDir() {
			if err := stampTree(h, filepath.Join(dir, e.Name()), name, depth+1); err != nil {
				return err
			}
			continue
		}
		if st.Mode().Type()&fs.ModeType == 0 {
			fmt.Fprintf(h, "%s %d %d\n", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	return nil
}

// StaleSource says how the plugin's source differs from what was
// installed ("" when it does not, or when the source is gone or was never
// recorded): the installed copy is what runs, so an edit or a rebuild is
// not used until the plugin is installed again. A binary whose stamp
// changed is hashed, so rebuilding the same code does not warn.
func (m Manifest) StaleSource() string {
	if m.Source == "" || m.SourceStamp == "" {
		return ""
	}
	tree := len(m.Interpreter) > 0
	if stamp := sourceStamp(m.Source, tree); stamp == "" || stamp == m.SourceStamp {
		return ""
	}
	if !tree {
		if sum, err := FileSHA256(m.Source); err != nil || sum == m.SHA256 {
			return ""
		}
	}
	return fmt.Sprintf("plugin %s: %s changed since it was installed; the installed copy still runs (install it again: gym plugin reinstall %s)", m.Name, m.Source, m.Name)
}
