package sdk

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/envgym/envgym/wire"
)

// sandboxSelf is what a plugin does for its own safety at start-up: it
// becomes not dumpable, so that no other process of its uid can attach
// to it or read its memory (exec made it dumpable again after the host's
// sandbox init); and, for hosts that ask it to, it brings loopback up.
func sandboxSelf() {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "envgym plugin: not dumpable: %v\n", err)
	}
	if os.Getenv(wire.EnvLoopbackUp) == "1" {
		if err := loopbackUp(); err != nil {
			fmt.Fprintf(os.Stderr, "envgym plugin: bring loopback up in sandbox: %v\n", err)
		}
	}
}

// loopbackUp brings "lo" up. A fresh network namespace has loopback down;
// envs that serve pages to their own browser need it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
