package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/serve"
)

func newMCPCmd(a *app) *cobra.Command {
	var record string
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "mcp ENV_ID",
		Short: "Serve one env to a local MCP agent over stdio (Model Context Protocol)",
		Long: `mcp speaks the Model Context Protocol on stdin/stdout, so an MCP agent
(Claude Desktop or Code, verl's MCP tools, any MCP client) can launch gym
and play ENV_ID through tools. Nothing but MCP is written to stdout; logs
go to stderr.

Tools: reset(seed, task, options) starts an episode; step(action) takes one
action in the env's grammar; and each call form of the grammar is a typed
tool of its own (web: click(id), fill(id, text), select, press, scroll, …;
swe: bash, view, str_replace, …, submit; search: search, open, judge,
answer). Results carry the observation as text (and a PNG screenshot as an
image when the env renders one: web envs with reset options
{"screenshot": true}) and, as structured content, reward, terminated,
truncated, status (OK, INVALID_ACTION, ENV_ERROR, TIMEOUT, CRASHED) and
valid_actions. The env runs in its sandboxed plugin process and is closed
when the agent disconnects (or calls close). Every tool also takes an
optional episode argument naming an env that outlives the MCP session,
for clients that open a session per call (verl's MCP tools).

Bad input: invalid arguments are tool errors that say what the schema
wants; an unknown tool is JSON-RPC error -32602; a malformed or oversized
line is answered with a parse error (-32700) and the session goes on.

The same tools are served over MCP's streamable HTTP by gym serve, at
/mcp/<env id> (e.g. http://127.0.0.1:8080/mcp/web/shop-v0).`,
		Example: `  # try it by hand: initialize, then list the tools
  gym mcp text/maze-v0

  # Claude Desktop / Claude Code (.mcp.json), or any MCP client's config:
  {"mcpServers": {"envgym-shop": {"command": "/path/to/bin/gym",
                                  "args": ["mcp", "web/shop-v0", "--record", "runs/mcp"]}}}`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMCP(cmd.Context(), a, args[0], record, idle)
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "write every episode (steps and manifest) under this directory")
	cmd.Flags().DurationVar(&idle, "idle", 10*time.Minute, "close the env after it is unused this long (the next reset opens it again)")
	return cmd
}

func runMCP(ctx context.Context, a *app, envID, record string, idle time.Duration) error {
	host := a.openHost()
	defer host.Close()
	reg := gym.NewRegistry()
	if err := host.Register(reg); err != nil {
		a.warn("%v", err)
	}
	w, err := openRecord(record, envID)
	if err != nil {
		return err
	}
	srv := serve.New(reg, serve.Config{Record: w, IdleTimeout: idle})
	defer srv.Close()
	if w != nil {
		defer w.Close()
		fmt.Fprintf(a.stderr, "gym mcp: recording to %s\n", w.Path())
	}
	if err := srv.ServeMCP(ctx, envID, "stdio", os.Stdin, os.Stdout); err != nil && ctx.Err() == nil {
		return fmt.Errorf("mcp: %w", err)
	}
	return nil
}

// openRecord creates DIR/NAME-TIME.jsonl (and its manifest) for the
// served episodes; no dir, no recording.
func openRecord(dir, name string) (*trajectory.Writer, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	base := strings.NewReplacer("/", "_", ".", "_").Replace(name) + "-" + time.Now().UTC().Format("20060102T150405.000")
	w, err := trajectory.Create(filepath.Join(dir, base+".jsonl"))
	if err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	return w, nil
}
