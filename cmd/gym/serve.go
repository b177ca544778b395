package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/serve"
)

type serveOptions struct {
	http, stream string
	tokenFile    string
	maxEnvs      int
	idle, drain  time.Duration
}

func newServeCmd(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the installed envs over HTTP/JSON and a fast line-JSON stream",
		Long: `Serve exposes every env of the installed plugins to other processes,
languages and machines. Envs still run in their sandboxed plugin processes.

Two transports, same sessions:
  HTTP/JSON (--http)   POST /v1/envs {"env_id"}, POST /v1/envs/ID/reset,
                       POST /v1/envs/ID/step {"action"}, DELETE /v1/envs/ID,
                       GET /v1/specs, GET /metrics (Prometheus), GET /healthz
  stream (--stream)    one TCP connection per env, one JSON line per request:
                       {"op":"make","env_id":…}, {"op":"reset","seed":…},
                       {"op":"step","action":…}, {"op":"close"}

Auth: a bearer token from --token-file or GYM_SERVE_TOKEN. Without a token,
gym serve refuses to listen on anything but loopback.

On SIGTERM/SIGINT the server drains: no new envs or episodes, running
episodes may finish for --drain, then the rest are cut (reported as
truncated with status ENV_ERROR, never silently lost).`,
		Example: `  # local use, no token needed on loopback
  gym serve --http 127.0.0.1:8080 --stream 127.0.0.1:8081

  # on a cluster node
  GYM_SERVE_TOKEN=$(cat /run/secrets/token) gym serve --http 0.0.0.0:8080 --stream 0.0.0.0:8081

  # then, from anywhere
  gym run text/maze-v0 --remote host1:8081,host2:8081 --episodes 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP/JSON listen address (empty: off)")
	f.StringVar(&o.stream, "stream", "127.0.0.1:8081", "stream listen address (empty: off)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token (default: env GYM_SERVE_TOKEN)")
	f.IntVar(&o.maxEnvs, "max-envs-per-client", 64, "concurrent envs one client may hold")
	f.DurationVar(&o.idle, "idle", 10*time.Minute, "close sessions unused this long")
	f.DurationVar(&o.drain, "drain", 30*time.Second, "on shutdown, how long running episodes may go on")
	return cmd
}

// serveToken reads the token from file (trimmed) or GYM_SERVE_TOKEN.
func serveToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("GYM_SERVE_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s is empty", file)
	}
	return tok, nil
}

func runServe(ctx context.Context, a *app, o serveOptions) error {
	token, err := serveToken(o.tokenFile)
	if err != nil {
		return err
	}
	if o.http == "" && o.stream == "" {
		return errors.New("--http and --stream are both off: nothing to serve")
	}
	for _, addr := range []string{o.http, o.stream} {
		if addr != "" {
			if err := serve.CheckListen(addr, token); err != nil {
				return err
			}
		}
	}
	host := a.openHost()
	defer host.Close()
	reg := gym.NewRegistry()
	if err := host.Register(reg); err != nil {
		a.warn("%v", err)
	}
	srv := serve.New(reg, serve.Config{Token: token, MaxEnvsPerClient: o.maxEnvs, IdleTimeout: o.idle})
	errc := make(chan error, 2)
	var hs *http.Server
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		hs = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- hs.Serve(ln) }()
		fmt.Fprintf(a.stderr, "gym serve: HTTP on http://%s\n", ln.Addr())
	}
	var sl net.Listener
	if o.stream != "" {
		if sl, err = net.Listen("tcp", o.stream); err != nil {
			return fmt.Errorf("--stream: %w", err)
		}
		go func() { errc <- srv.ServeStream(sl) }()
		fmt.Fprintf(a.stderr, "gym serve: stream on %s\n", sl.Addr())
	}
	fmt.Fprintf(a.stderr, "gym serve: %d env ids from %s\n", len(reg.IDs()), a.pluginDir)
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		fmt.Fprintf(a.stderr, "gym serve: draining (up to %s)\n", o.drain)
	}
	srv.Drain(context.Background(), o.drain)
	if sl != nil {
		sl.Close()
	}
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}
	fmt.Fprintln(a.stderr, "gym serve: stopped")
	return nil
}
