package plugins

import (
	"context"
	"testing"

	"github.com/envgym/envgym/gym"
)

// BenchmarkRemoteStep is one step through a plugin per transport, with a
// reset every 3 steps outside the timer.
func BenchmarkRemoteStep(b *testing.B) {
	dir := b.TempDir()
	if _, err := Install(context.Background(), binDir+"/gym-plugin-faulty", dir, InstallOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, tr := range []string{TransportSocket, TransportGRPC} {
		b.Run(tr, func(b *testing.B) {
			h := New(Config{Dir: dir, Transport: tr, HealthInterval: -1})
			defer h.Close()
			env, err := h.Make(context.Background(), "test/faulty-v0", nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			env.Reset(ctx, gym.ResetOptions{Seed: 1})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := env.Step(ctx, "x")
				if err != nil {
					b.Fatal(err)
				}
				if r.Done() {
					b.StopTimer()
					env.Reset(ctx, gym.ResetOptions{Seed: 1})
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkPluginStart is one plugin process start: the sandbox (mount,
// PID and network namespaces, the init, cgroups), the exec, go-plugin's
// handshake and Describe. The process is stopped outside the timer.
func BenchmarkPluginStart(b *testing.B) {
	dir := b.TempDir()
	if _, err := Install(context.Background(), binDir+"/gym-plugin-faulty", dir, InstallOptions{}); err != nil {
		b.Fatal(err)
	}
	h := New(Config{Dir: dir, HealthInterval: -1})
	defer h.Close()
	p, _ := h.Plugin("test/faulty-v0")
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p.Stop()
		b.StartTimer()
		if _, err := p.Specs(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p.Stop()
}
