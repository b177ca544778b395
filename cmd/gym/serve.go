package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
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
	maxConns     int
	maxConnsAddr int
	allowPaths   []string
	openenvMax   int
	openenvRoot  string
	retriever    retrieverOptions // retriever.go
	record       string
	oracle       bool
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

OpenEnv (on --http): every env id also speaks meta-pytorch/OpenEnv's
protocol at its own base URL, /openenv/<family>.<name>-vN (e.g.
http://127.0.0.1:8080/openenv/web.shop-v0): WebSocket /ws (one env per
connection), GET /health /metadata /schema /state, POST /reset /step.
OpenEnv clients and TRL's environment_factory (sdk/python's EnvgymEnv)
use it as any OpenEnv server; --openenv-root ENV_ID also serves one env
at / for clients that take the server's URL as the env's.

MCP (on --http): every env id is also a Model Context Protocol server
(streamable HTTP) at /mcp/<env id>, e.g. http://127.0.0.1:8080/mcp/web/shop-v0:
tools reset, step and one typed tool per action form of the env's grammar
(click, fill, …); one env per MCP session. gym mcp ENV_ID serves the same
over stdio for agents that launch their servers.

Retriever (--retriever, on --http): POST /retrieve {"queries":[…],"topk":3,
"return_scores":true}, Search-R1's retrieval protocol (verl's search tool,
rLLM, SkyRL), over the search env's BM25 index: the fictional knowledge
base (--retriever-passages, --retriever-seed) or your JSONL corpus
(--retriever-corpus, {id, title, text} a line).

Auth: a bearer token from --token-file or GYM_SERVE_TOKEN. Without a token,
gym serve refuses to listen on anything but loopback, and there answers
only requests for a loopback Host, from no other browser Origin, with
Content-Type application/json (no CSRF, no DNS rebinding).

Clients: with one shared token (or none) a client is its IP address; a
token file of "NAME TOKEN" lines gives each client its own token, and the
client is that name. Per-client limits and session visibility follow
that identity; a client-set header or field (X-Client-ID) never does.

Host paths: env options that name a file or directory (keys like
"tasks", "*_dir", "*_file", values like "/…", "~…", "../…") are refused
unless they lie under a directory given with --allow-path.

On SIGTERM/SIGINT the server drains: no new envs or episodes, running
episodes may finish for --drain, then the rest are cut (reported as
truncated with status ENV_ERROR, never silently lost).`,
		Example: `  # local use, no token needed on loopback
  gym serve --http 127.0.0.1:8080 --stream 127.0.0.1:8081

  # on a cluster node
  GYM_SERVE_TOKEN=$(cat /run/secrets/token) gym serve --http 0.0.0.0:8080 --stream 0.0.0.0:8081

  # one token per trainer (lines "alice 3f9c…", "bob 81d2…"), swe task files from one dir
  gym serve --token-file tokens.txt --http 0.0.0.0:8080 --allow-path /data/swe-tasks

  # OpenEnv and a Search-R1 retriever over a 100k-passage knowledge base
  gym serve --http 127.0.0.1:8000 --retriever --retriever-passages 100000

  # MCP agents, with every served episode recorded as a trajectory
  gym serve --http 127.0.0.1:8080 --record runs/served

  # then, from anywhere
  gym run text/maze-v0 --remote host1:8081,host2:8081 --episodes 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP/JSON listen address (empty: off)")
	f.StringVar(&o.stream, "stream", "127.0.0.1:8081", "stream listen address (empty: off)")
	f.StringVar(&o.tokenFile, "token-file", "", `file holding the bearer token, or "NAME TOKEN" lines, one per client (default: env GYM_SERVE_TOKEN)`)
	f.IntVar(&o.maxEnvs, "max-envs-per-client", 64, "concurrent envs one client may hold")
	f.DurationVar(&o.idle, "idle", 10*time.Minute, "close sessions unused this long")
	f.DurationVar(&o.drain, "drain", 30*time.Second, "on shutdown, how long running episodes may go on")
	f.IntVar(&o.maxConns, "max-conns", 1024, "open connections in all (HTTP and stream together)")
	f.IntVar(&o.maxConnsAddr, "max-conns-per-addr", 256, "open connections from one IP address (HTTP and stream together)")
	f.StringArrayVar(&o.allowPaths, "allow-path", nil, "directory under which env options may name host paths (repeatable; default none)")
	f.StringVar(&o.openenvRoot, "openenv-root", "", "also serve this env id's OpenEnv endpoints at the root (/ws, /reset, …), for clients that take the server's URL as the env's (verifiers)")
	f.IntVar(&o.openenvMax, "openenv-max-concurrent-envs", 0, "OpenEnv WebSocket sessions in all; more get CAPACITY_REACHED (0: only --max-envs-per-client)")
	o.retriever.flags(f)
	f.BoolVar(&o.oracle, "oracle", false, "answer the stream's oracle op (the env's scripted next action), so gym run --remote --policy oracle works; off by default: it hands clients the answer")
	f.StringVar(&o.record, "record", "", "write every served episode (steps and manifest, any transport) under this directory")
	return cmd
}

// serveTokens reads the token file (one shared token, or named tokens)
// or, without one, GYM_SERVE_TOKEN.
func serveTokens(file string) (serve.TokenFile, error) {
	if file == "" {
		return serve.TokenFile{Shared: os.Getenv("GYM_SERVE_TOKEN")}, nil
	}
	tf, err := serve.ParseTokenFile(file)
	if err != nil {
		return tf, fmt.Errorf("--token-file: %w", err)
	}
	return tf, nil
}

func runServe(ctx context.Context, a *app, o serveOptions) error {
	tokens, err := serveTokens(o.tokenFile)
	if err != nil {
		return err
	}
	allow, err := serve.CheckAllowPaths(o.allowPaths)
	if err != nil {
		return err
	}
	token := tokens.Shared
	if len(tokens.Named) > 0 {
		token = "named tokens" // CheckListen asks only whether there is a token
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
	if o.openenvRoot != "" {
		if _, err := reg.Spec(o.openenvRoot); err != nil {
			return fmt.Errorf("--openenv-root: %w", err)
		}
	}
	ret, err := o.retriever.open(ctx, a)
	if err != nil {
		return err
	}
	if ret != nil {
		defer ret.Close()
	}
	rec, err := openRecord(o.record, "served") // mcp.go
	if err != nil {
		return err
	}
	if rec != nil {
		defer rec.Close()
		fmt.Fprintf(a.stderr, "gym serve: recording episodes to %s\n", rec.Path())
	}
	srv := serve.New(reg, serve.Config{Token: tokens.Shared, Tokens: tokens.Named, MaxEnvsPerClient: o.maxEnvs, IdleTimeout: o.idle,
		MaxConns: o.maxConns, MaxConnsPerAddr: o.maxConnsAddr, AllowPaths: allow,
		OpenEnvMaxConcurrentEnvs: o.openenvMax, OpenEnvRoot: o.openenvRoot, Retriever: ret.serve(), Record: rec, Oracle: o.oracle})
	errc := make(chan error, 2)
	var hs *http.Server
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		hs = srv.HTTPServer()
		go func() { errc <- hs.Serve(srv.LimitListener(ln)) }()
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
