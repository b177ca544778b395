// Command gym-plugin-text serves the text env family (text/maze-v0,
// text/corridor-v0) as a gym plugin.
package main

import (
	"log"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

func main() {
	reg := gym.NewRegistry()
	if err := text.Register(reg); err != nil {
		log.Fatal(err)
	}
	sdk.Serve(reg)
}
