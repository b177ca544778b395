package desktop

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

func newEnv(t *testing.T) *Env {
	t.Helper()
	e, err := New(gym.Spec{ID: "gui/desktop-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func runOracle(t *testing.T, ctx context.Context, e *Env, task string, seed int64) gym.StepResult {
	t.Helper()
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task}); err != nil {
		t.Fatalf("%s: reset: %v", task, err)
	}
	var res gym.StepResult
	for range MaxSteps {
		a, err := e.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res, err = e.Step(ctx, a); err != nil {
			t.Fatal(err)
		}
		if res.Status != gym.StatusOK {
			t.Fatalf("%s seed %d: %s: %s", task, seed, a, res.Observation.Text)
		}
		if res.Done() {
			break
		}
	}
	return res
}

func TestOracleSolvesEveryTask(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, task := range tasks() {
		for seed := range int64(2) {
			if res := runOracle(t, ctx, e, task.id, seed); res.Reward != 1 {
				t.Errorf("%s seed %d: reward %v\n%s", task.id, seed, res.Reward, res.Observation.Text)
			}
		}
	}
}

func TestScreenshotInvalidCrash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	obs, err := e.Reset(ctx, gym.ResetOptions{TaskID: "term-mkdir"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(obs.Screenshot))
	if err != nil || img.Bounds().Dx() != Width || img.Bounds().Dy() != Height {
		t.Fatalf("screenshot: %v %v", err, img)
	}
	for act, field := range map[string]string{
		`{"action_type":"click","x":5000,"y":1}`:       "x",
		`{"action_type":"open_app","app_name":"gimp"}`: "app_name",
		`{"action_type":"scroll"}`:                     "direction",
	} {
		res, err := e.Step(ctx, act)
		if err != nil || res.Status != gym.StatusInvalidAction || res.Observation.Info["field"] != field {
			t.Errorf("%s: %v %s %v", act, err, res.Status, res.Observation.Info)
		}
	}
	if _, err := e.Step(ctx, `{"action_type":"open_app","app_name":"terminal"}`); err != nil {
		t.Fatal(err)
	}
	xpid := e.XPID()
	progs := []int{xpid, e.procs[0].Process.Pid}
	syscall.Kill(xpid, syscall.SIGKILL)
	time.Sleep(50 * time.Millisecond)
	res, err := e.Step(ctx, `{"action_type":"click","x":10,"y":10}`)
	if err != nil || res.Status != gym.StatusCrashed {
		t.Fatalf("after killing Xvfb: %v %s", err, res.Status)
	}
	if r := runOracle(t, ctx, e, "term-mkdir", 1); r.Reward != 1 {
		t.Errorf("after crash: reward %v", r.Reward)
	}
	progs = append(progs, e.XPID(), e.procs[0].Process.Pid)
	e.Close()
	time.Sleep(100 * time.Millisecond)
	for _, p := range progs {
		if b, err := os.ReadFile("/proc/" + itoa(p) + "/stat"); err == nil && !bytes.Contains(b, []byte(") Z")) {
			t.Errorf("process %d still runs after Close: %s", p, b)
		}
	}
}

func itoa(n int) string { return string(bytes.TrimSpace([]byte(fmtInt(n)))) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
