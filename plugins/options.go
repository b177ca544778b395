package plugins

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/envgym/envgym/gym"
)

// The options the host itself reads from a Make or Reset: the one place
// that says which option opens a port on the host's loopback to the
// plugin and which options are host paths the plugin may read. Every env
// reads the same keys; plugins/README.md documents them.

// OptionAllowedHosts is gym.OptionAllowedHosts (see there).
const OptionAllowedHosts = gym.OptionAllowedHosts

// optionPaths are the absolute host paths named by path options.
// Relative paths are left to the env (they name nothing on the host the
// plugin could be given).
func optionPaths(opts map[string]any) []string {
	var out []string
	for k, v := range opts {
		if s, ok := v.(string); ok && gym.IsPathOption(k) && !gym.IsCacheOption(k) && filepath.IsAbs(s) {
			out = append(out, filepath.Clean(s))
		}
	}
	sort.Strings(out)
	return out
}

// loopbackPorts are the host-loopback ports allowed_hosts names.
func loopbackPorts(opts map[string]any) ([]int, error) {
	raw, ok := opts[OptionAllowedHosts]
	if !ok {
		return nil, nil
	}
	var entries []string
	switch v := raw.(type) {
	case []string:
		entries = v
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("option %q[%d]: want a string (host, host:port or URL), got %T", OptionAllowedHosts, i, e)
			}
			entries = append(entries, s)
		}
	case string:
		entries = []string{v}
	default:
		return nil, fmt.Errorf("option %q: want a list of strings (host, host:port or URL), got %T", OptionAllowedHosts, raw)
	}
	seen := map[int]bool{}
	var ports []int
	for _, e := range entries {
		host, port, err := hostPort(e)
		if err != nil {
			return nil, fmt.Errorf("option %q: %q: %w", OptionAllowedHosts, e, err)
		}
		if port == 0 || !isLoopbackHost(host) || seen[port] {
			continue
		}
		seen[port] = true
		ports = append(ports, port)
	}
	sort.Ints(ports)
	return ports, nil
}

// hostPort splits an allowed_hosts entry; port 0 when it names none.
func hostPort(e string) (string, int, error) {
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil {
			return "", 0, err
		}
		port := 0
		switch u.Scheme {
		case "http", "ws":
			port = 80
		case "https", "wss":
			port = 443
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return "", 0, fmt.Errorf("bad port %q", p)
			}
			port = n
		}
		return u.Hostname(), port, nil
	}
	host, p, err := net.SplitHostPort(e)
	if err != nil { // a bare host (or [::1])
		return strings.Trim(e, "[]"), 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, n, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
