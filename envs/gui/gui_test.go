package gui

import (
	"context"
	"testing"

	"github.com/envgym/envgym/gym"
)

func TestRegister(t *testing.T) {
	r := gym.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	env, err := r.Make(context.Background(), "gui/phone-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, ok := gym.Capable[gym.Oracle](env); !ok {
		t.Error("phone env is not an Oracle")
	}
	if len(env.Spec().Tasks) < 10 {
		t.Errorf("%d phone tasks, want >= 10", len(env.Spec().Tasks))
	}
}

func TestRegisterDesktop(t *testing.T) {
	r := gym.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	env, err := r.Make(context.Background(), "gui/desktop-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if len(env.Spec().Tasks) < 8 {
		t.Errorf("%d desktop tasks, want >= 8", len(env.Spec().Tasks))
	}
}

func TestBench(t *testing.T) {
	res, err := Bench(context.Background(), BenchConfig{Episodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.PhoneStepP50Ms <= 0 || res.DesktopStepP50Ms <= 0 {
		t.Errorf("bench: %+v", res)
	}
	t.Logf("%+v", res)
}
