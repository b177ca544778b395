package python_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/envs/web"
	"github.com/envgym/envgym/gym"
)

// oraclePlan plays id's oracle in-process and returns its actions: the
// served env is deterministic, so the same actions win there.
func oraclePlan(t *testing.T, reg *gym.Registry, id string, seed int64, task string) []string {
	t.Helper()
	ctx := context.Background()
	e, err := reg.Make(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o, _ := gym.Capable[gym.Oracle](e)
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task}); err != nil {
		t.Fatal(err)
	}
	var plan []string
	for range 200 {
		a, err := o.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		plan = append(plan, a)
		r, err := e.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done() {
			return plan
		}
	}
	t.Fatalf("%s: oracle did not finish", id)
	return nil
}

// TestOpenEnvClientAndTRLClassAgainstRealServe runs `gym serve` (built
// here, with the text and web plugins) and, from Python, plays OpenEnv
// episodes with envgym_client.OpenEnvClient and the TRL
// environment_factory classes of EnvgymEnv.for_env, as GRPOTrainer calls
// them: instantiate, reset(**row), tool methods with keyword arguments,
// then read reward and done.
func TestOpenEnvClientAndTRLClassAgainstRealServe(t *testing.T) {
	tmp := t.TempDir()
	gymBin, dir := gymWithPlugins(t, tmp, "text", "web")

	reg := gym.NewRegistry()
	if err := text.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := web.Register(reg); err != nil {
		t.Fatalf("web env (setup installs Chromium): %v", err)
	}
	plans := map[string][]string{
		"text": oraclePlan(t, reg, "text/maze-v0", 3, "easy"),
		"shop": oraclePlan(t, reg, "web/shop-v0", 2, ""),
	}
	planFile := filepath.Join(tmp, "plans.json")
	b, _ := json.Marshal(plans)
	os.WriteFile(planFile, b, 0o600)

	tokenFile := filepath.Join(tmp, "token")
	os.WriteFile(tokenFile, []byte("s3cret-openenv\n"), 0o600)
	httpAddr := freeAddr(t)
	serve := exec.Command(gymBin, "--plugin-dir", dir, "serve", "--http", httpAddr, "--stream", "", "--token-file", tokenFile, "--drain", "1s")
	var serr strings.Builder
	serve.Stderr = &serr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			serve.Process.Kill()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(serr.String(), "env ids from") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	py := exec.Command("/usr/bin/python3", "tests/openenv_episode.py", "http://"+httpAddr, "s3cret-openenv", planFile, strconv.Itoa(serve.Process.Pid))
	out, err := py.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s\nserver:\n%s", err, stderr, serr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]any{
		"reset":                 map[string]any{"reward": nil, "done": false, "status": "OK", "has_text": true},
		"state":                 map[string]any{"episode_id": "py-1", "step_count": float64(len(plans["text"]))},
		"errors":                map[string]any{"action_type": "VALIDATION_ERROR", "unknown_task": "VALIDATION_ERROR", "unknown_field": "VALIDATION_ERROR"},
		"alive_after_errors":    true,
		"invalid_action":        map[string]any{"status": "INVALID_ACTION", "infra": false, "done": false},
		"wrong_token":           "401",
		"maze_tools":            []any{"act"},
		"maze_public":           []any{"act", "reset"},
		"maze_act_sig":          map[string]any{"action": "str"},
		"maze_act_doc_has_args": true,
		"shop_click_params":     map[string]any{"id": "int"},
		"crash":                 map[string]any{"killed": true, "status": "CRASHED", "infra": true, "done": true, "truncated": true},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: got %v, want %v", k, got[k], w)
		}
	}
	if tx := got["text"].(map[string]any); tx["done"] != true || tx["terminated"] != true || tx["return"].(float64) < 1 {
		t.Errorf("text episode over OpenEnv: %v", tx)
	}
	if m := got["trl_maze"].(map[string]any); m["reward"].(float64) < 1 || m["done"] != true || m["infra"] != false ||
		!strings.Contains(m["after_done"].(string), "over") {
		t.Errorf("TRL maze class: %v", m)
	}
	if s := got["trl_shop"].(map[string]any); s["reward"] != 1.0 || s["done"] != true || s["terminated"] != true || s["infra"] != false {
		t.Errorf("TRL shop class: %v", s)
	}
	for _, tool := range []string{"click", "fill", "select", "press", "scroll", "answer"} {
		if !strings.Contains(strings.Join(toStrings(got["shop_tools"]), ","), tool) {
			t.Errorf("shop tools %v lack %s", got["shop_tools"], tool)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
