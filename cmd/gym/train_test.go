//go:build !notorch

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestTrainInProcess runs a tiny gym train on the in-process text env.
func TestTrainInProcess(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"train", "--env", "text/maze-v0", "--in-process", "--iterations", "1",
		"--steps-per-iter", "64", "--envs", "2", "--bc", "2", "--eval", "2", "--json"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Device   string `json:"device"`
		EnvSteps int    `json:"env_steps"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v: %s", err, out.String())
	}
	if rep.EnvSteps < 64 || rep.Device == "" {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(errb.String(), "iter   0") {
		t.Fatalf("no progress on stderr: %q", errb.String())
	}
}

func TestTrainBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--env", "text/nope-v0", "--in-process"},
		{"train", "--env", "text/maze-v0", "--in-process", "--algo", "dqn", "--iterations", "1"},
		{"train", "compare", "--env", "text/maze-v0", "--in-process", "--seeds", "0"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 1 {
			t.Errorf("%v: exit %d, want 1 (%s)", args, code, errb.String())
		}
	}
}
