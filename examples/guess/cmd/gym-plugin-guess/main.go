// Command gym-plugin-guess serves the example env as a plugin.
package main

import (
	"github.com/envgym/envgym/examples/guess"
	"github.com/envgym/envgym/sdk"
)

func main() { sdk.ServeEnv(guess.Spec, guess.New) }
