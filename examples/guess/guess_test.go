package guess_test

import (
	"context"
	"testing"

	"github.com/envgym/envgym/examples/guess"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

// The whole conformance test of a new env is one call.
func TestConformance(t *testing.T) {
	envtest.Test(t, func(ctx context.Context) (gym.Env, error) { return guess.New(ctx, nil) }, envtest.Config{})
}
