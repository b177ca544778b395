package chromium

import (
	"fmt"
	"os/exec"
	"syscall"
)

// UserNamespaces checks that this process can start a child in new user,
// PID and network namespaces, as Chromium's zygote does for its sandbox.
func UserNamespaces() error {
	path, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("new user/pid/net namespaces: %w", err)
	}
	return nil
}
