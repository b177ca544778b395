package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// What the checksum covers, and how the host makes sure that what runs is
// what was hashed:
//
//   - A binary plugin is opened once; the hash is computed from that open
//     file, and the sandbox executes the same open file (passed to the
//     sandbox init as a descriptor, run through /proc/self/fd), never the
//     path again. Renaming another file over the path after the check
//     changes nothing. (Writing into the very inode between the check and
//     the exec needs write access to the plugin directory, which no plugin
//     has: it is hidden in every plugin's mount namespace.)
//   - An interpreted plugin's whole folder is hashed: every file, the
//     Python byte-code caches included (a fresh install has none, so a
//     planted .pyc changes the hash), and every symbolic link by its
//     target. A link that leads out of the folder, or any file that is not
//     regular, is refused. The interpreter runs with -B (writes no byte
//     code into the folder) and -E -s (no PYTHON* variables, no user site).

func hexSHA(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("plugin manifest: sha256 %q is not a hex SHA-256", s)
	}
	return b, nil
}

// ComputeSHA256 hashes what the manifest's checksum covers: the binary,
// or for interpreted plugins the whole plugin directory.
func (m Manifest) ComputeSHA256() (string, error) {
	if len(m.Interpreter) > 0 {
		return TreeSHA256(filepath.Dir(m.path))
	}
	return FileSHA256(m.BinaryPath())
}

// openVerified checks the plugin against its manifest's checksum. For a
// binary plugin it returns the binary, open: the caller must execute that
// file and close it. For an interpreted plugin it returns nil.
func (m Manifest) openVerified() (*os.File, error) {
	if _, err := hexSHA(m.SHA256); err != nil {
		return nil, err
	}
	if len(m.Interpreter) > 0 {
		got, err := TreeSHA256(filepath.Dir(m.path))
		if err != nil {
			return nil, err
		}
		return nil, m.checkSum(m.BinaryPath(), got)
	}
	f, err := os.Open(m.BinaryPath())
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", f.Name())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := m.checkSum(f.Name(), hex.EncodeToString(h.Sum(nil))); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (m Manifest) checkSum(what, got string) error {
	if got != m.SHA256 {
		fix := "if you changed it on purpose, run `gym plugin install` on its source again"
		if m.Source != "" {
			fix = fmt.Sprintf("if you changed it on purpose, install it again: gym plugin reinstall %s (from %s)", m.Name, m.Source)
		}
		return fmt.Errorf("%w: refusing to start %s: manifest %s says sha256 %s, the plugin has %s (%s)",
			ErrChecksum, what, m.Path(), m.SHA256, got, fix)
	}
	return nil
}

// TreeSHA256 hashes everything under dir except the manifest itself:
// each regular file by name and content, each symbolic link by name and
// target, in sorted order. It refuses links that lead out of dir and
// files of any other kind (devices, sockets, FIFOs).
func TreeSHA256(dir string) (string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("hash plugin files: %w", err)
	}
	type entry struct{ rel, line string }
	var entries []entry
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			real, err := filepath.EvalSymlinks(path)
			if err != nil {
				return fmt.Errorf("symbolic link %s: %w", path, err)
			}
			if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
				return fmt.Errorf("symbolic link %s leads out of the plugin folder (to %s): refused", path, real)
			}
			entries = append(entries, entry{rel, "L " + target})
		case t.IsRegular():
			if rel == ManifestFile {
				return nil
			}
			sum, err := FileSHA256(path)
			if err != nil {
				return err
			}
			entries = append(entries, entry{rel, sum})
		default:
			return fmt.Errorf("%s is not a regular file, directory or link (%s): refused", path, t)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash plugin files: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%s\n", e.rel, e.line)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
