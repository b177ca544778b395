//go:build !linux

package chromium

import "errors"

// UserNamespaces reports that Chromium's namespace sandbox is Linux only.
func UserNamespaces() error { return errors.New("user namespaces are Linux only") }
