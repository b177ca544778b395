package plugins

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOwnTreeKeepsMappedIDs: the host hands a root plugin its directories
// as they are left by earlier runs (root's files of a plugin that ran as
// the host's root, nobody's of swe's sandboxes): root's become the
// plugin's uid, the ids its namespace maps stay theirs, a link is not
// followed out of the tree, and a tree already the plugin's is left
// alone unless something of another uid shows directly in it.
func TestOwnTreeKeepsMappedIDs(t *testing.T) {
	const uid, nobody = 1_800_000_123, 65534
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	for _, f := range []string{"root-file", "sub/root-file", "sub/nobody-file", outside} {
		p := f
		if !filepath.IsAbs(f) {
			p = filepath.Join(dir, f)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "sub/nobody-file"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := ownTree(dir, uid, uid, nobody); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) (uint32, uint32) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid, st.Gid
	}
	for p, want := range map[string]uint32{
		dir: uid, filepath.Join(dir, "root-file"): uid, filepath.Join(dir, "sub"): uid,
		filepath.Join(dir, "sub/root-file"): uid, filepath.Join(dir, "sub/nobody-file"): nobody,
		filepath.Join(dir, "link"): uid, outside: 0,
	} {
		if u, g := owner(p); u != want || g != want {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, u, g, want, want)
		}
	}
	// Already the plugin's: the walk is not repeated at every start, but
	// for an entry directly in it of another uid (what a run as the
	// host's root leaves there).
	if err := os.Chown(filepath.Join(dir, "sub/root-file"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := ownTree(dir, uid, uid, nobody); err != nil {
		t.Fatal(err)
	}
	if u, _ := owner(filepath.Join(dir, "sub/root-file")); u != 0 {
		t.Errorf("a tree already the plugin's was walked again")
	}
	if err := os.Chown(filepath.Join(dir, "root-file"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := ownTree(dir, uid, uid, nobody); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"root-file", "sub/root-file"} {
		if u, _ := owner(filepath.Join(dir, f)); u != uid {
			t.Errorf("%s: owner %d after a root-owned entry showed at the top, want %d", f, u, uid)
		}
	}
}
