package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// dockerSocket is the Docker engine's API socket.
const dockerSocket = "/var/run/docker.sock"

// sweOwnerLabel is the label the swe env's Docker backend puts on every
// container it starts, valued "HOSTNAME/PID/START" of the plugin process
// (envs/swe/docker.go).
const sweOwnerLabel = "envgym.swe.owner"

// pluginContainers counts the running containers a plugin process owns,
// asking the Docker engine directly (no client library: one GET). ok is
// false when the engine does not answer.
func pluginContainers(ctx context.Context, pid int) (n int64, ok bool) {
	if pid <= 0 {
		return 0, false
	}
	if _, err := os.Stat(dockerSocket); err != nil {
		return 0, false
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%s", host, pid, procStartTicks(pid))
	filters, _ := json.Marshal(map[string][]string{"label": {sweOwnerLabel + "=" + owner}})
	c := http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", dockerSocket)
		}},
	}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/json?filters="+url.QueryEscape(string(filters)), nil)
	if err != nil {
		return 0, false
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var list []json.RawMessage
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return 0, false
	}
	return int64(len(list)), true
}
