package swe

import (
	"context"
	"testing"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

// TestConformance runs the gym contract suite on swe/gomut-v0 (namespace
// backend) with a small generated task set.
func TestConformance(t *testing.T) {
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	spec, err := reg.Spec(GenID)
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 1, 4)
	dir := sandboxTestDir(t)
	envtest.Test(t, func(ctx context.Context) (gym.Env, error) {
		b, err := NewNamespace(NamespaceConfig{Dir: dir, GoCache: sharedTestGoCache(t)})
		if err != nil {
			return nil, err
		}
		return &Env{spec: spec, backend: b, load: func(context.Context) ([]Task, error) { return tasks, nil }}, nil
	}, envtest.Config{Seeds: 2, MaxSteps: 4})
}
