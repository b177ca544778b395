// Command gym-plugin-web serves the web envs (web/<task>-v0, web/shop-v0,
// web/open-v0, web/miniwob-v0) as a gym plugin. One Chromium serves every
// env instance.
package main

import (
	"fmt"
	"os"

	"github.com/envgym/envgym/envs/web"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

func main() {
	reg := gym.NewRegistry()
	if err := web.Register(reg); err != nil {
		fmt.Fprintln(os.Stderr, "gym-plugin-web:", err)
		os.Exit(1)
	}
	sdk.Serve(reg)
}
