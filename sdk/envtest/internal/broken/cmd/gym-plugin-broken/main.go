// Command gym-plugin-broken serves the deliberately broken envs, so
// `gym check` can be shown to fail on them.
package main

import (
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
	"github.com/envgym/envgym/sdk/envtest/internal/broken"
)

func main() {
	reg := gym.NewRegistry()
	if err := broken.Register(reg); err != nil {
		panic(err)
	}
	sdk.Serve(reg)
}
