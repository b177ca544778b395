package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/scaffold"
)

func newInitCmd(a *app) *cobra.Command {
	var o scaffold.Options
	var noTidy bool
	cmd := &cobra.Command{
		Use:   "init go|python NAME",
		Short: "Start a new env plugin: a module (Go) or folder (Python) that builds, tests and passes gym check as generated",
		Long: `Init writes a new env plugin's starting point into ./NAME (or --dir): a small
working env (an agent walks to the target shelf and picks an item: seeded
from the episode's seed, with valid actions and an oracle), its plugin main,
its tests, a Makefile (Go) and a README with the dev loop. Replace the env's
state, Reset and Step with your task.

Go: the module requires github.com/envgym/envgym and replaces it with a copy
of the SDK in third_party/envgym (or with a checkout given by --sdk), so it
builds on its own, with CGO_ENABLED=0 too; gym init runs go mod tidy, which
fetches the SDK's dependencies through the Go module proxy.
Python: main.py and the envgym package beside it (standard library and
Debian's python3-grpcio/python3-protobuf; use /usr/bin/python3).`,
		Example: `  gym init go warehouse && cd warehouse && make test check install && gym run local/warehouse-v0 --policy oracle
  gym init python lights --id puzzles/lights-out-v0
  gym check lights/main.py && gym plugin install lights/main.py`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || (args[0] != "go" && args[0] != "python") {
				return fmt.Errorf("usage: gym init go|python NAME (e.g. gym init go warehouse)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Tidy = args[1], !noTidy
			if exe, err := os.Executable(); err == nil && o.Gym == "" {
				o.Gym = exe
			}
			gen := scaffold.Go
			if args[0] == "python" {
				gen = scaffold.Python
			}
			files, err := gen(o)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			dir := o.Dir
			if dir == "" {
				dir = o.Name
			}
			if a.json {
				return a.writeJSON(map[string]any{"dir": dir, "files": files})
			}
			fmt.Fprintf(a.stdout, "wrote %s: %s\n\nnext:\n", dir, strings.Join(files, ", "))
			if args[0] == "go" {
				fmt.Fprintf(a.stdout, "  cd %s\n  make test      # the conformance suite in-process\n  make check     # build the plugin and gym check it\n  make install   # then: gym run %s --policy oracle\n", dir, idOr(o))
			} else {
				fmt.Fprintf(a.stdout, "  (cd %s && python3 -m unittest test_env)\n  gym check %s/main.py\n  gym plugin install %s/main.py --interpreter /usr/bin/python3\n  gym run %s --policy oracle\n", dir, dir, dir, idOr(o))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "where to write (default ./NAME; must not exist or be empty)")
	f.StringVar(&o.ID, "id", "", `env id (default "local/NAME-v0")`)
	f.StringVar(&o.Module, "module", "", `Go module path (default "example.com/NAME")`)
	f.StringVar(&o.SDK, "sdk", "", "Go: replace github.com/envgym/envgym with this checkout instead of copying the SDK in")
	f.BoolVar(&noTidy, "no-tidy", false, "Go: skip go mod tidy (run it yourself before building)")
	return cmd
}

func idOr(o scaffold.Options) string {
	if o.ID != "" {
		return o.ID
	}
	return "local/" + o.Name + "-v0"
}
