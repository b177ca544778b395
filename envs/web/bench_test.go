package web

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("bench run in -short mode: see BenchmarkStep")
	}
	res, err := Bench(context.Background(), BenchConfig{Steps: 100, Resets: 30, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	t.Logf("%s", b)
}

func BenchmarkStep(b *testing.B) {
	e := makeEnv(b, "web/click-checkboxes-v0")
	ctx := context.Background()
	be := &benchEnv{Env: e}
	if err := be.reset(ctx, 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := be.step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/step")
}

func BenchmarkReset(b *testing.B) {
	e := makeEnv(b, "web/click-checkboxes-v0")
	ctx := context.Background()
	start := time.Now()
	i := int64(0)
	for b.Loop() {
		i++
		if _, err := e.Reset(ctx, gym.ResetOptions{Seed: i % 5}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/reset")
}
