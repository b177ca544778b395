package text_test

import (
	"context"
	"testing"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

func TestConformance(t *testing.T) {
	reg := gym.NewRegistry()
	if err := text.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, id := range reg.IDs() {
		t.Run(id, func(t *testing.T) {
			envtest.Test(t, func(ctx context.Context) (gym.Env, error) { return reg.Make(ctx, id, nil) }, envtest.Config{})
		})
	}
}
