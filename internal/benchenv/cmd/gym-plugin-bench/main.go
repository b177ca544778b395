// Command gym-plugin-bench serves the echo env of `gym bench plugin`
// (bench/echo-v0) as a plugin.
package main

import (
	"github.com/envgym/envgym/internal/benchenv"
	"github.com/envgym/envgym/sdk"
)

func main() { sdk.ServeEnv(benchenv.Spec(), benchenv.New) }
