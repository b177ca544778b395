// Command gym-plugin-swe serves the SWE env family (swe/gomut-v0,
// swe/custom-v0) as a gym plugin.
package main

import (
	"log"

	"github.com/envgym/envgym/envs/swe"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

func main() {
	reg := gym.NewRegistry()
	if err := swe.Register(reg); err != nil {
		log.Fatal(err)
	}
	sdk.Serve(reg)
}
