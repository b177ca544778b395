package plugins

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/envgym/envgym/plugins/sandboxinit"
)

// A plugin starts under the sandbox init (package sandboxinit): the host
// executes gym-sandbox-init (cmd/gym-sandbox-init, built beside gym) into
// the plugin's new namespaces; a program without it beside it, such as a
// test binary, re-executes itself, which works when its main (or TestMain)
// calls SandboxInitMain first.

// initHooked records that this program calls SandboxInitMain, so the
// host may re-execute it as a plugin's init. Set once, at start-up.
var initHooked atomic.Bool

// SandboxInitMain runs the plugin sandbox's init and never returns when
// this process was started as one; otherwise it returns at once. Call it
// first in main (and TestMain) of every program that starts plugins.
func SandboxInitMain() {
	initHooked.Store(true)
	sandboxinit.Main()
}

// InitBinary is the name of the sandbox init's own program.
const InitBinary = "gym-sandbox-init"

// initPath is the program to execute as a plugin's sandbox init: the
// small gym-sandbox-init beside this program (a re-executed gym would load
// libtorch for nothing on every plugin start), else this program itself.
func initPath() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), InitBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if initHooked.Load() {
		return "/proc/self/exe", nil
	}
	return "", errors.New("this program cannot sandbox plugins: build " + InitBinary + " beside it (go build -o DIR/ ./cmd/gym-sandbox-init; scripts/setup.sh does) or call plugins.SandboxInitMain() first in its main (see plugins/README.md)")
}

// childOf finds the child of parent among pids (the plugin's cgroup), or
// else among every process; 0 if there is none.
func childOf(parent int, pids []int) int {
	if len(pids) == 0 {
		if es, err := os.ReadDir("/proc"); err == nil {
			for _, e := range es {
				if n, err := strconv.Atoi(e.Name()); err == nil {
					pids = append(pids, n)
				}
			}
		}
	}
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == parent {
			return pid
		}
	}
	return 0
}

// randomSuffix names one plugin process's cgroups.
func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
