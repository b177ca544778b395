// Package gui is the GUI environment family: pixels in, coordinates out.
//
// Two backends share one JSON action space (see package action):
//
//   - gui/phone-v0: a phone shell with six apps rendered by headless
//     Chromium at 412×915 with touch emulation (package phone);
//   - gui/desktop-v0: a real Xvfb X server running real X programs
//     (xterm, xcalc, xedit), driven in-process over X11 + XTEST
//     (package desktop).
//
// Observations carry a PNG screenshot and a text (the goal and, unless
// switched off with the "a11y" option, an accessibility list); validators
// read real state (the apps' store, files the programs wrote).
package gui

import (
	"context"
	"fmt"
	"time"

	"github.com/envgym/envgym/envs/gui/action"
	"github.com/envgym/envgym/envs/gui/desktop"
	"github.com/envgym/envgym/envs/gui/phone"
	"github.com/envgym/envgym/envs/internal/chromium"
	"github.com/envgym/envgym/gym"
)

// Version of the GUI envs, recorded in trajectories.
const Version = "0.1.0"

// Register registers gui/phone-v0 and gui/desktop-v0 in r. One Chromium
// (started with the first phone, stopped with the last) serves every
// phone made from r; every desktop owns its own Xvfb.
func Register(r *gym.Registry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	components := map[string]string{}
	if v, err := chromium.ProbeVersion(ctx, ""); err == nil {
		components["chromium"] = v
		components["chromium_sandbox"] = chromium.DetectSandbox().String()
	}
	suite := phone.NewSuite(phone.Options{})
	phoneSpec := gym.Spec{
		ID: "gui/phone-v0", Version: Version,
		Description: "Phone GUI tasks (contacts, clock, notes, calendar, settings, expenses) in a Chromium-rendered phone at 412x915 with touch emulation. Reward 1 when the app's store shows the goal done (or the answer is right), info.success. Options: a11y (bool, default true), scale (device scale factor, default 1).",
		Tasks:       phone.TaskIDs(), MaxSteps: phone.MaxSteps,
		ObservationSpace: "Screenshot: PNG of the phone screen (412*scale x 915*scale). Text: the goal, the screen size and, with a11y on, one line per UI element: `UI element i: {\"text\",\"class\",\"bounds\":[l,t,r,b],\"clickable\",...}` in screenshot pixels.",
		ActionSpace:      action.Grammar, Deterministic: true, Components: components,
	}
	if err := r.Register(phoneSpec, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		return suite.New(phoneSpec, opts)
	}); err != nil {
		return fmt.Errorf("gui: register: %w", err)
	}
	deskSpec := gym.Spec{
		ID: "gui/desktop-v0", Version: Version,
		Description: "Desktop GUI tasks on a real Xvfb with real X programs (xterm, xcalc, xedit). Reward 1 when the real state (files in the home directory, program output) shows the goal done, info.success. open_app launches terminal, calculator or editor. Options: a11y (bool, default true: lists the open windows).",
		Tasks:       desktop.TaskIDs(), MaxSteps: desktop.MaxSteps,
		ObservationSpace: fmt.Sprintf("Screenshot: PNG of the X root window (%dx%d). Text: the goal and, with a11y on, the open windows with their bounds.", desktop.Width, desktop.Height),
		ActionSpace:      action.Grammar, Deterministic: true,
		Components: map[string]string{"x": "Xvfb"},
	}
	if err := r.Register(deskSpec, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		return desktop.New(deskSpec, opts)
	}); err != nil {
		return fmt.Errorf("gui: register: %w", err)
	}
	return nil
}
