// Command gym-sandbox-init is the init of a plugin's sandbox, executed by
// the gym host (package plugins) into the plugin's new namespaces; it
// confines itself and starts the plugin (package plugins/sandboxinit). It
// lives beside bin/gym so that no plugin start loads gym's libraries.
// Run by hand it says so and exits.
package main

import (
	"fmt"
	"os"

	"github.com/envgym/envgym/plugins/sandboxinit"
)

func main() {
	sandboxinit.Main()
	fmt.Fprintln(os.Stderr, "gym-sandbox-init is started by the gym host as a plugin's sandbox init; there is nothing to run by hand")
	os.Exit(2)
}
