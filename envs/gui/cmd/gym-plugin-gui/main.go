// Command gym-plugin-gui serves the GUI env family (gui/phone-v0,
// gui/desktop-v0) as a gym plugin.
package main

import (
	"log"

	"github.com/envgym/envgym/envs/gui"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

func main() {
	reg := gym.NewRegistry()
	if err := gui.Register(reg); err != nil {
		log.Fatal(err)
	}
	sdk.Serve(reg)
}
