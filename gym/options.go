package gym

import "strings"

// Option keys that mean the same to every env and to the hosts that run
// them (the plugin host, gym serve): the one place they are defined.

// OptionAllowedHosts lists the hosts an env may reach: "host",
// "host:port" or URLs. Envs that browse enforce it for every request; the
// plugin host forwards the entries on its own loopback into the plugin's
// network namespace (and nothing else).
const OptionAllowedHosts = "allowed_hosts"

// pathOptionKeys are options whose value is a host path besides those
// whose key ends in "dir", "path", "file" or "files".
var pathOptionKeys = map[string]bool{"corpus": true, "questions": true, "tasks": true}

// IsCacheOption reports whether a path option names where the env
// writes (its cache), not what it reads: hosts do not expose it
// read-only to the env's sandbox, where the env's own scratch serves.
func IsCacheOption(key string) bool { return strings.HasPrefix(strings.ToLower(key), "cache") }

// IsPathOption reports whether the option key names a host path (a task
// file, a site or corpus folder) that the env reads: the plugin host makes
// such paths visible read-only in the plugin's sandbox, and gym serve
// refuses them from clients unless the operator allowed their directory.
func IsPathOption(key string) bool {
	k := strings.ToLower(key)
	if pathOptionKeys[k] {
		return true
	}
	for _, suf := range []string{"dir", "path", "file", "files"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}
