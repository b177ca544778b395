package sdk_test

import (
	"github.com/envgym/envgym/examples/guess"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk"
)

// A plugin in one call: this is the whole main of a plugin binary that
// serves one env (examples/guess/cmd/gym-plugin-guess). Install the
// binary with `gym plugin install`; run by hand, it says it is a plugin
// and exits.
func ExampleServeEnv() {
	sdk.ServeEnv(guess.Spec, guess.New)
}

// A plugin serving several env ids registers them in a registry first.
func ExampleServe() {
	reg := gym.NewRegistry()
	reg.MustRegister(guess.Spec, guess.New)
	sdk.Serve(reg)
}
