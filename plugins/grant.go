package plugins

import (
	"fmt"
)

// grant gives the session's plugin process what the user's options allow
// (options.go): the host paths they name, read-only, and the ports of
// the host's loopback named in allowed_hosts.
func (r *Remote) grant(opts map[string]any) error {
	s := r.sess
	if s == nil || len(opts) == 0 {
		return nil
	}
	if s.proc.files {
		if paths := optionPaths(opts); len(paths) > 0 {
			if err := exposeReadOnly(s.proc.pid, paths); err != nil {
				return fmt.Errorf("a path option cannot be shown to the plugin's sandbox (it sees the host read-only, without /tmp, /root and /home, plus the paths its options name): %w", err)
			}
		}
	}
	ports, err := loopbackPorts(opts)
	if err != nil || s.proc.network {
		return err
	}
	for _, port := range ports {
		if s.ports[port] {
			continue
		}
		if err := s.proc.fwd.acquire(port); err != nil {
			return fmt.Errorf("allowed_hosts: forward the host's loopback port %d into the plugin's sandbox: %w", port, err)
		}
		s.ports[port] = true
	}
	return nil
}

// revoke stops the forwards this session held.
func (s *session) revoke() {
	for port := range s.ports {
		s.proc.fwd.release(port)
	}
	s.ports = nil
}
