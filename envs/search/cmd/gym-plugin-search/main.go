// Command gym-plugin-search serves the search envs (search/fictional-v0,
// search/custom-v0) as a gym plugin.
package main

import (
	"fmt"
	"os"

	"github.com/envgym/envgym/envs/search"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

func main() {
	reg := gym.NewRegistry()
	if err := search.Register(reg); err != nil {
		fmt.Fprintln(os.Stderr, "gym-plugin-search:", err)
		os.Exit(1)
	}
	sdk.Serve(reg)
}
