package gui

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/envgym/envgym/envs/gui/desktop"
	"github.com/envgym/envgym/envs/gui/phone"
	"github.com/envgym/envgym/gym"
)

// TestDocScreenshots writes the README's screenshots from real oracle
// episodes into $GUIGYM_DOCS (go test ./envs/gui -run DocScreenshots with
// GUIGYM_DOCS=docs); skipped otherwise.
func TestDocScreenshots(t *testing.T) {
	dir := os.Getenv("GUIGYM_DOCS")
	if dir == "" {
		t.Skip("set GUIGYM_DOCS to a directory to write the README screenshots")
	}
	ctx := context.Background()
	ph, err := phone.NewSuite(phone.Options{}).New(gym.Spec{ID: "gui/phone-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	dk, err := desktop.New(gym.Spec{ID: "gui/desktop-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dk.Close()
	// The phone mid-way through contacts-add-email (keyboard up); the
	// desktop after the terminal ran the oracle's command of
	// term-count-lines and the calculator is open.
	shots := []struct {
		env   benchEnv
		task  string
		steps int
		extra string
		file  string
	}{
		{ph, "contacts-add-email", 4, "", "phone.png"},
		{dk, "term-count-lines", 3, `{"action_type":"open_app","app_name":"calculator"}`, "desktop.png"},
	}
	for _, s := range shots {
		obs, err := s.env.Reset(ctx, gym.ResetOptions{Seed: 7, TaskID: s.task})
		if err != nil {
			t.Fatal(err)
		}
		for range s.steps {
			a, err := s.env.OracleAction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.env.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			obs = res.Observation
		}
		if s.extra != "" {
			res, err := s.env.Step(ctx, s.extra)
			if err != nil {
				t.Fatal(err)
			}
			obs = res.Observation
		}
		if err := os.WriteFile(filepath.Join(dir, s.file), obs.Screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes\n%s", s.file, len(obs.Screenshot), obs.Text)
	}
}
