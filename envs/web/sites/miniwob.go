package sites

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed miniwob/html
var miniwobFixture embed.FS

// MiniWoBFixture is envgym's own look-alike of MiniWoB++'s html folder:
// a few small tasks on a core.js of ours with the same contract. It is
// what web/miniwob-v0 plays without a miniwob_dir, and what the tests use.
func MiniWoBFixture() fs.FS {
	sub, err := fs.Sub(miniwobFixture, "miniwob/html")
	if err != nil {
		panic(err) // embedded at build time
	}
	return sub
}

// MiniWoBDir opens a user's copy of MiniWoB++'s html folder (the one
// holding core/ and miniwob/) and lists its tasks.
func MiniWoBDir(dir string) (fs.FS, []string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("miniwob_dir: %w", err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("miniwob_dir: %s is not a folder; give MiniWoB++'s html folder (with core/ and miniwob/)", dir)
	}
	fsys := os.DirFS(dir)
	tasks, err := MiniWoBTasks(fsys)
	if err != nil {
		return nil, nil, fmt.Errorf("miniwob_dir %s: %w", dir, err)
	}
	return fsys, tasks, nil
}

// MiniWoBTasks lists the tasks of an html folder: miniwob/NAME.html.
func MiniWoBTasks(fsys fs.FS) ([]string, error) {
	if _, err := fs.Stat(fsys, "core/core.js"); err != nil {
		return nil, fmt.Errorf("no core/core.js: expected MiniWoB++'s html folder (miniwob-plusplus/miniwob/html), the one holding core/ and miniwob/")
	}
	ents, err := fs.ReadDir(fsys, "miniwob")
	if err != nil {
		return nil, fmt.Errorf("no miniwob/ folder of task pages: %w", err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && path.Ext(n) == ".html" && !strings.HasPrefix(n, "index") {
			out = append(out, strings.TrimSuffix(n, ".html"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("miniwob/ has no task pages (*.html)")
	}
	sort.Strings(out)
	return out, nil
}
