package plugins

import (
	"bufio"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The identity and environment a plugin process runs with.

// pluginUIDBase and pluginUIDRange place each plugin's uid (= gid): a
// fixed function of its name, so its cache stays its own across runs,
// above the ranges distributions hand out to users and to subordinate
// ids (/etc/subuid, typically 100000-165535 per user).
const (
	pluginUIDBase  = 1_800_000_000
	pluginUIDRange = 100_000
)

// PluginUID is the unprivileged uid (and gid) the plugin called name runs
// as. Two plugins share one only on a hash collision; even then each
// has its own PID namespace, so neither can name the other's processes.
func PluginUID(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return pluginUIDBase + int(h.Sum32()%pluginUIDRange)
}

// envAllowlist are the host variables every plugin gets: what programs
// need to find things and speak the user's language. Everything else
// (API keys, cloud credentials, GYM_SERVE_TOKEN, DOCKER_HOST, ...) stays
// with the host unless the manifest's sandbox.env names it.
var envAllowlist = []string{"PATH", "LANG", "LANGUAGE", "TZ", "TERM"}

// pluginEnv is the environment of a plugin process: the allowlist, the
// LC_* locale variables, the manifest's extra names, and HOME and TMPDIR
// set to the plugin's scratch directory. go-plugin adds its own
// (PLUGIN_*, the handshake cookie).
func pluginEnv(extra []string, scratch string) []string {
	keep := map[string]bool{}
	for _, k := range envAllowlist {
		keep[k] = true
	}
	for _, k := range extra {
		keep[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("PATH") == "" {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return append(env, "HOME="+scratch, "TMPDIR="+scratch, "PLUGIN_UNIX_SOCKET_DIR="+scratch)
}

// rootInUserNS says whether a plugin with this sandbox runs as root of
// a user namespace of its own (sandboxinit.UserNS): a root one, where
// this host can give it its own PID namespace and proc.
func rootInUserNS(sb Sandbox) bool {
	return sb.Root && MountNamespaceSupported() == "" && NamespacesSupported() == ""
}

// rootPluginKeptIDs are the ids a root plugin's user namespace maps to
// themselves besides its root: nobody, as whom swe runs its sandboxes
// (envs/swe sandboxUID) and its Docker commands.
var rootPluginKeptIDs = []int{65534}

// ownTree gives dir and everything under it to uid:gid. Files owned by
// one of keep (ids the plugin's namespace maps) stay theirs. It walks
// only when dir, or an entry directly in it, belongs to someone else (a
// run of the plugin as the host's root, before it had a user namespace,
// leaves such entries): otherwise the tree is theirs, as only they wrote
// in it since. dir itself changes last, so an interrupted walk is redone.
// Links are not followed: a plugin cannot make the host chown a file
// outside its tree through a symlink it planted (and the kernel refuses
// it hard links to files it does not own).
func ownTree(dir string, uid, gid int, keep ...int) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return err
	}
	if int(st.Uid) == uid && int(st.Gid) == gid && !strangerIn(dir, uid, keep) {
		return nil
	}
	kept := func(id uint32, to int) int {
		for _, k := range keep {
			if int(id) == k {
				return k
			}
		}
		return to
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return err
		}
		u, g := kept(st.Uid, uid), kept(st.Gid, gid)
		if int(st.Uid) == u && int(st.Gid) == g {
			return nil
		}
		return os.Lchown(path, u, g)
	})
	if err != nil {
		return err
	}
	return os.Lchown(dir, uid, gid)
}

// strangerIn says whether an entry directly in dir belongs to a uid other
// than uid and keep.
func strangerIn(dir string, uid int, keep []int) bool {
	es, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range es {
		var st syscall.Stat_t
		if syscall.Lstat(filepath.Join(dir, e.Name()), &st) != nil || int(st.Uid) == uid || slices.Contains(keep, int(st.Uid)) {
			continue
		}
		return true
	}
	return false
}

// groupID looks a group up in /etc/group; -1 when absent.
func groupID(name string) int {
	f, err := os.Open("/etc/group")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[0] == name {
			if id, err := strconv.Atoi(f[2]); err == nil {
				return id
			}
		}
	}
	return -1
}
