package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/serve"
)

// healthReport is what `gym healthcheck --json` prints.
type healthReport struct {
	URL      string `json:"url"`
	Healthy  bool   `json:"healthy"`
	Sessions int    `json:"sessions"`
	Draining bool   `json:"draining"`
	OpenEnv  string `json:"openenv,omitempty"` // the OpenEnv /health URL probed
	Error    string `json:"error,omitempty"`
}

func newHealthcheckCmd(a *app) *cobra.Command {
	var timeout time.Duration
	var openenv []string
	cmd := &cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Probe a gym serve: exit 0 when it answers healthy (container HEALTHCHECK)",
		Long: `Healthcheck asks a running gym serve whether it is healthy: GET URL/healthz
(no token needed) must answer ok and not draining, and for each --openenv
ENV_ID the env's OpenEnv health URL (/openenv/<family>.<name>-vN/health)
must answer "healthy", which also proves that env's plugin is installed.

It is the probe of the envgym images (Docker HEALTHCHECK, Swarm): it needs
no shell, curl or wget, so it works in the scratch image too. Kubernetes
probes the same URLs with httpGet.

Exit codes: 0 healthy; 1 unhealthy, draining or unreachable.`,
		Example: `  gym healthcheck                                   # http://127.0.0.1:8080
  gym healthcheck http://replica-3:8080 --openenv web/shop-v0 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base := "http://127.0.0.1:8080"
			if len(args) == 1 {
				base = args[0]
			}
			if !strings.Contains(base, "://") {
				base = "http://" + base
			}
			base = strings.TrimRight(base, "/")
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep := probeHealth(ctx, base, openenv)
			if a.json {
				_ = json.NewEncoder(a.stdout).Encode(rep)
			} else if rep.Healthy {
				fmt.Fprintf(a.stdout, "healthy: %s, %d sessions\n", base, rep.Sessions)
			}
			if !rep.Healthy {
				return &exitError{code: 1, err: errors.New(rep.Error)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long (all requests together)")
	cmd.Flags().StringArrayVar(&openenv, "openenv", nil, "also require this env id's OpenEnv /health to answer healthy (repeatable)")
	return cmd
}

func probeHealth(ctx context.Context, base string, openenv []string) healthReport {
	rep := healthReport{URL: base + "/healthz"}
	var hz struct {
		OK       bool `json:"ok"`
		Draining bool `json:"draining"`
		Sessions int  `json:"sessions"`
	}
	if err := getJSON(ctx, rep.URL, &hz); err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Sessions, rep.Draining = hz.Sessions, hz.Draining
	switch {
	case !hz.OK:
		rep.Error = rep.URL + ": not ok"
		return rep
	case hz.Draining:
		rep.Error = rep.URL + ": draining (shutting down)"
		return rep
	}
	for _, id := range openenv {
		u := base + serve.OpenEnvPath(id) + "/health"
		rep.OpenEnv = u
		var h struct {
			Status string `json:"status"`
		}
		if err := getJSON(ctx, u, &h); err != nil {
			rep.Error = err.Error()
			return rep
		}
		if h.Status != "healthy" {
			rep.Error = fmt.Sprintf("%s: status %q", u, h.Status)
			return rep
		}
	}
	rep.Healthy = true
	return rep
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("healthcheck: %s: not JSON: %w", url, err)
	}
	return nil
}
