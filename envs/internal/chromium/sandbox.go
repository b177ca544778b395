package chromium

import "os"

// Sandbox says whether Chromium runs with its own sandbox (renderers in
// their own user, PID and network namespaces under a seccomp filter) and,
// when not, why.
type Sandbox struct {
	On  bool   `json:"on"`
	Why string `json:"why"`
}

func (s Sandbox) String() string {
	if s.On {
		return "on (" + s.Why + ")"
	}
	return "off: " + s.Why
}

// DetectSandbox reports whether Chromium's own sandbox can run in this
// process. Chromium refuses it as root; as any other user it needs user
// namespaces (Debian's Chromium ships no setuid helper). The gym's plugin
// sandbox runs plugins as their own uid, so installed web and gui plugins
// get it wherever the kernel lets an unprivileged user make namespaces.
func DetectSandbox() Sandbox {
	if os.Geteuid() == 0 {
		return Sandbox{Why: "running as root, where Chromium refuses its sandbox (installed plugins run as their own uid and get it)"}
	}
	if err := UserNamespaces(); err != nil {
		return Sandbox{Why: "this user cannot make user namespaces: " + err.Error()}
	}
	return Sandbox{On: true, Why: "user namespaces"}
}
