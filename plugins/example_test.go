package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/envgym/envgym/gym"
)

// Host a plugin: install its binary (the moment of trust: its checksum
// and specs go into the manifest), then make its envs through a registry
// like any other env. (binDir holds the plugins this package's tests
// build.)
func ExampleHost() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example-plugins")
	defer os.RemoveAll(dir)
	m, err := Install(ctx, filepath.Join(binDir, "gym-plugin-guess"), dir, InstallOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("installed", m.Name, "serving", m.Envs, "max steps", m.Specs[0].MaxSteps)

	host := New(Config{Dir: dir})
	defer host.Close()
	reg := gym.NewRegistry()
	if err := host.Register(reg); err != nil {
		panic(err)
	}
	env, err := reg.Make(ctx, "example/guess-v0", nil) // starts the plugin process
	if err != nil {
		panic(err)
	}
	defer env.Close()
	obs, _ := env.Reset(ctx, gym.ResetOptions{Seed: 1})
	fmt.Println(obs.Text)
	r, _ := env.Step(ctx, "guess 50")
	fmt.Println(r.Status, r.Observation.Text)
	// Output:
	// installed guess serving [example/guess-v0] max steps 10
	// I picked a number from 1 to 100. Guess it.
	// OK 50 is too low: higher.
}
