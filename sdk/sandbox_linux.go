package sdk

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sandboxSelf is what a plugin does for its own safety at start-up: it
// becomes not dumpable, so that no other process of its uid can attach
// to it or read its memory (exec made it dumpable again after the host's
// sandbox init, which has already brought loopback up).
func sandboxSelf() {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "envgym plugin: not dumpable: %v\n", err)
	}
}
