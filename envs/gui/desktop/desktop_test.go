package desktop

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strconv"
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

// seeds is how many seeds every oracle plays: 2 by default (to keep
// `go test` short), GUIGYM_SEEDS (10 for the full check) when set.
func seeds() int64 {
	if v, err := strconv.Atoi(os.Getenv("GUIGYM_SEEDS")); err == nil && v > 0 {
		return int64(v)
	}
	return 2
}

func TestOracleSolvesEveryTask(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, task := range tasks() {
		for seed := range seeds() {
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

// TestFrameMatchesFullGrab checks the damage-tracked, stripe-cached frame
// against a fresh grab of the whole screen after real episodes.
func TestFrameMatchesFullGrab(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, task := range []string{"calc-multiply", "term-create-file", "term-count-lines"} {
		runOracle(t, ctx, e, task, 3)
		shot, err := e.d.settle(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("%s: decode: %v", task, err)
		}
		cached := bytes.Clone(e.d.frame.raw)
		if err := e.d.grabRows(0, Height); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cached, e.d.frame.raw) {
			t.Errorf("%s: cached frame differs from a full grab", task)
		}
		for _, p := range [][2]int{{0, 0}, {Width - 1, Height - 1}, {760, 60}, {300, 200}} {
			r, g, b, _ := got.At(p[0], p[1]).RGBA()
			i := 4 * (p[1]*Width + p[0])
			raw := e.d.frame.raw
			if byte(r>>8) != raw[i+2] || byte(g>>8) != raw[i+1] || byte(b>>8) != raw[i] {
				t.Errorf("%s: pixel %v: png %d,%d,%d, screen %v", task, p, r>>8, g>>8, b>>8, raw[i:i+3])
			}
		}
	}
}

// TestEnterWaitsForTheCommand: the step that presses Enter in a terminal
// ends when the shell prints its next prompt, so its reward reflects the
// command's effect however slow the machine is (replays of oracle
// episodes differed under load when the step only waited for the screen).
// Enter over another window does not wait for a prompt.
func TestEnterWaitsForTheCommand(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "term-mkdir"}); err != nil {
		t.Fatal(err)
	}
	dir := e.ep.plan[1].Text[len("mkdir "):]
	for _, a := range []string{
		`{"action_type":"open_app","app_name":"terminal"}`,
		`{"action_type":"input_text","text":"sleep 0.7; mkdir ` + dir + `","x":300,"y":200}`,
	} {
		if res, err := e.Step(ctx, a); err != nil || res.Status != gym.StatusOK {
			t.Fatalf("%s: %v %+v", a, err, res)
		}
	}
	start := time.Now()
	res, err := e.Step(ctx, `{"action_type":"keyboard_enter"}`)
	if err != nil || res.Status != gym.StatusOK {
		t.Fatalf("enter: %v %+v", err, res)
	}
	if res.Reward != 1 || !res.Terminated {
		t.Fatalf("the Enter step ended before the command did (after %v): reward %v, terminated %v", time.Since(start), res.Reward, res.Terminated)
	}

	// Over the empty root window Enter goes nowhere: no wait for a prompt.
	if _, err := e.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "term-mkdir"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, `{"action_type":"open_app","app_name":"terminal"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, `{"action_type":"click","x":1000,"y":700}`); err != nil {
		t.Fatal(err)
	}
	before := e.prompts()
	if _, err := e.Step(ctx, `{"action_type":"keyboard_enter"}`); err != nil {
		t.Fatal(err)
	}
	if e.prompts() != before {
		t.Fatalf("Enter over the root window reached the shell: prompts %d -> %d", before, e.prompts())
	}
}
