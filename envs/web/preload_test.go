package web

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/sites"
	"github.com/envgym/envgym/gym"
)

// TestPreloadedStartIsTheSeededPage checks, for every task, that a reset
// in a context the suite loaded ahead (the task's page before an instance
// is drawn, then EG.begin) shows the agent exactly what loading the
// seeded URL shows, and that the episode's history holds that page only.
func TestPreloadedStartIsTheSeededPage(t *testing.T) {
	r, s := registry(t)
	ctx := context.Background()
	// Off: a reset loads nothing ahead.
	plain, err := r.Make(ctx, "web/click-button-v0", map[string]any{"preload_start": false})
	if err != nil {
		t.Fatal(err)
	}
	for seed := range int64(2) {
		if _, err := plain.Reset(ctx, gym.ResetOptions{Seed: seed}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	s.spares.mu.Lock()
	n := len(s.spares.loaded) + s.spares.loading
	s.spares.mu.Unlock()
	plain.Close()
	if n != 0 {
		t.Fatalf("with preload_start false, %d contexts loaded ahead", n)
	}
	if _, err := r.Make(ctx, "web/click-button-v0", map[string]any{"preload_start": "yes"}); err == nil || !strings.Contains(err.Error(), "preload_start") {
		t.Fatalf("preload_start \"yes\": %v, want an error naming the option", err)
	}
	for _, task := range sites.Tasks() {
		e0, err := r.Make(ctx, "web/"+task.Name+"-v0", nil) // on by default
		if err != nil {
			t.Fatal(err)
		}
		e := rawEnv(e0)
		if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 1}); err != nil {
			t.Fatal(err)
		}
		url := e.ep.(preloader).preloadURL()
		var ahead []*browser.Session
		for deadline := time.Now().Add(30 * time.Second); len(ahead) == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no context loaded ahead with %s after 30 s", task.Name, url)
			}
			time.Sleep(20 * time.Millisecond)
			s.spares.mu.Lock()
			for _, l := range s.spares.loaded {
				if l.url == url {
					ahead = append(ahead, l.sess)
				}
			}
			s.spares.mu.Unlock()
		}
		got, err := e.Reset(ctx, gym.ResetOptions{Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ahead, e.sess) {
			t.Fatalf("%s: the reset did not take a context loaded ahead", task.Name)
		}
		if back, err := e.tab.Back(ctx); err != nil || back {
			t.Errorf("%s: go back from the preloaded start page: moved %v, err %v (want no history)", task.Name, back, err)
		}
		p, err := e.tab.Open(ctx, e.ep.startURL(), e.maxObs)
		if err != nil {
			t.Fatal(err)
		}
		e.setPage(p)
		want, err := e.observation(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != want.Text || !slices.Equal(got.ValidActions, want.ValidActions) {
			t.Errorf("%s seed 7: preloaded start differs from the seeded page\n--- preloaded:\n%s\n%v\n--- loaded:\n%s\n%v", task.Name, got.Text, got.ValidActions, want.Text, want.ValidActions)
		}
		e0.Close()
	}
}
