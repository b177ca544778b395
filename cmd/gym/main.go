// Command gym is the envgym CLI: list the envs of installed plugins, run
// episodes with a policy and record them, check a plugin against the env
// contract, and benchmark the plugin boundary. Run `gym --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/envgym/envgym/plugins"
)

func main() {
	plugins.SandboxInitMain() // a plugin's sandbox init is this program, re-executed
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
