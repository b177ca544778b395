package worldmodel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/sdk/envtest"
)

// fixture is a model of text/maze-v0 (easy), trained once for the
// package's tests, and held-out transitions from other seeds.
type fixture struct {
	m       *Model
	heldOut []trajectory.Step
	reg     *gym.Registry
	realReg *gym.Registry
	timing  string
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func maze(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		ctx := context.Background()
		realReg := gym.NewRegistry()
		if fixErr = text.Register(realReg); fixErr != nil {
			return
		}
		env, err := realReg.Make(ctx, text.MazeID, nil)
		if err != nil {
			fixErr = err
			return
		}
		defer env.Close()
		t0 := time.Now()
		train, err := Collect(ctx, env, CollectOptions{Episodes: 80, Seed: 0, Task: "easy"})
		if err != nil {
			fixErr = err
			return
		}
		held, err := Collect(ctx, env, CollectOptions{Episodes: 20, Seed: 100_000, Task: "easy"})
		if err != nil {
			fixErr = err
			return
		}
		t1 := time.Now()
		m, err := Train(ctx, NewBuffer(train), TrainConfig{Spec: env.Spec(), Seed: 1})
		if err != nil {
			fixErr = err
			return
		}
		reg := gym.NewRegistry()
		if fixErr = RegisterModel(reg, realReg, m); fixErr != nil {
			return
		}
		fix = fixture{m: m, heldOut: held, reg: reg, realReg: realReg,
			timing: fmt.Sprintf("collect %v, train %v on %d transitions", t1.Sub(t0), time.Since(t1), len(train))}
	})
	if fixErr != nil {
		t.Fatalf("maze world model (needs libtorch: fails, never skips, without it): %v", fixErr)
	}
	return fix
}

func TestFidelityBeatsCopyBaseline(t *testing.T) {
	f := maze(t)
	real, err := f.realReg.Make(context.Background(), text.MazeID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	rep, err := Fidelity(context.Background(), f.m, f.heldOut, FidelityOptions{Real: real, Task: "easy", SpeedSteps: 300})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rep.JSON()
	t.Log(f.timing)
	t.Logf("train loss %.3f cand acc %.3f\n%s", f.m.Meta.TrainLoss, f.m.Meta.TrainCandAcc, b)
	if rep.NextObsExact <= rep.CopyExact+0.2 || rep.NextObsF1 <= rep.CopyF1 {
		t.Errorf("next obs exact %.3f F1 %.3f; copy baseline %.3f / %.3f", rep.NextObsExact, rep.NextObsF1, rep.CopyExact, rep.CopyF1)
	}
	if rep.RewardMAE >= rep.MeanRewardMAE {
		t.Errorf("reward MAE %.4f, mean baseline %.4f", rep.RewardMAE, rep.MeanRewardMAE)
	}
	if rep.ConfCorrect <= rep.ConfWrong {
		t.Errorf("confidence on correct %.3f <= on wrong %.3f", rep.ConfCorrect, rep.ConfWrong)
	}
	if rep.StatusAcc < 0.9 || rep.DoneAcc < 0.9 {
		t.Errorf("status acc %.3f, done acc %.3f", rep.StatusAcc, rep.DoneAcc)
	}
}

func TestBufferRetrieval(t *testing.T) {
	steps := []trajectory.Step{
		{EpisodeID: "a", Obs: "Location: row 1, column 1.\nExits: north.", Action: "go north", NextObs: "Location: row 0, column 1."},
		{EpisodeID: "a", Obs: "Location: row 1, column 1.\nExits: north.", Action: "look", NextObs: "You look around."},
		{EpisodeID: "b", Obs: "You see a red key.", Action: "take red key", NextObs: "You take the red key."},
	}
	b := NewBuffer(steps)
	nb := b.Nearest("Location: row 2, column 1.\nExits: north.", "go north", 2, "")
	if len(nb) != 2 || nb[0].Index != 0 {
		t.Fatalf("nearest = %+v, want step 0 first", nb)
	}
	if nb := b.Nearest("Location: row 1, column 1.", "go north", 1, "a"); len(nb) != 1 || nb[0].Index != 2 {
		t.Fatalf("skipping episode a: %+v, want step 2", nb)
	}
	// Round trip through a trajectory file.
	path := t.TempDir() + "/t.jsonl"
	w, err := trajectory.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEpisode(steps, trajectory.Manifest{EpisodeID: "a"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	back, err := LoadBuffer(path)
	if err != nil || back.Len() != 3 || back.Steps[2].NextObs != steps[2].NextObs {
		t.Fatalf("round trip: %v, %d steps", err, back.Len())
	}
}

func TestAnalogy(t *testing.T) {
	got := analogy("Location: row 3, column 2.\nYou carry nothing.",
		"Location: row 2, column 2.\nYou carry nothing.",
		"You go north.\n\nLocation: row 1, column 2.\nYou carry nothing.", nil)
	want := "You go north.\n\nLocation: row 2, column 2.\nYou carry nothing."
	if got != want {
		t.Fatalf("analogy:\n%s\nwant\n%s", got, want)
	}
}

func TestDreamEnvConformance(t *testing.T) {
	f := maze(t)
	id := DreamID(text.MazeID)
	envtest.Test(t, func(ctx context.Context) (gym.Env, error) { return f.reg.Make(ctx, id, nil) }, envtest.Config{})
}

func TestSaveLoadRegister(t *testing.T) {
	f := maze(t)
	dir := t.TempDir()
	if err := f.m.Save(dir); err != nil {
		t.Fatal(err)
	}
	reg := gym.NewRegistry()
	if err := Register(reg, f.realReg, dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := reg.Make(ctx, "dream/text.maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.reg.Make(ctx, "dream/text.maze-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	oa, _ := a.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "easy"})
	ob, _ := b.Reset(ctx, gym.ResetOptions{Seed: 3, TaskID: "easy"})
	for range 5 {
		act := oa.ValidActions[0]
		ra, err1 := a.Step(ctx, act)
		rb, err2 := b.Step(ctx, act)
		if err1 != nil || err2 != nil || ra.Observation.Text != rb.Observation.Text || ra.Reward != rb.Reward {
			t.Fatalf("loaded model differs: %v %v\n%q\n%q", err1, err2, ra.Observation.Text, rb.Observation.Text)
		}
		if ra.Done() {
			break
		}
		oa, ob = ra.Observation, rb.Observation
	}
	_ = ob
	if _, ok := oa.Info["worldmodel"]; !ok && false {
		t.Fatal("no worldmodel info")
	}
}

// tamper changes the real env under the shadow: its observations use
// words the model never saw.
type tamper struct{ gym.Wrapper }

func (t tamper) Step(ctx context.Context, a string) (gym.StepResult, error) {
	r, err := t.Env.Step(ctx, a)
	r.Observation.Text = strings.NewReplacer("row", "deck", "column", "bay", "north", "fore", "south", "aft",
		"east", "starboard", "west", "port", "key", "token", "door", "hatch", "room", "cabin").Replace(r.Observation.Text)
	return r, err
}

func TestShadowLogsDivergence(t *testing.T) {
	f := maze(t)
	ctx := context.Background()
	play := func(real gym.Env) (meanF1 float64, n int) {
		t.Helper()
		e := newEnv(f.m, real, modeShadow, 0)
		defer e.Close()
		obs, err := e.Reset(ctx, gym.ResetOptions{Seed: 100_003, TaskID: "easy"})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			r, err := e.Step(ctx, obs.ValidActions[0])
			if err != nil {
				t.Fatal(err)
			}
			sh, ok := r.Observation.Info["worldmodel"].(map[string]any)["shadow"].(map[string]any)
			if !ok {
				t.Fatalf("no shadow info in %v", r.Observation.Info)
			}
			meanF1 += sh["obs_f1"].(float64)
			n++
			if r.Done() {
				break
			}
			obs = r.Observation
		}
		return meanF1 / float64(n), n
	}
	real, _ := f.realReg.Make(ctx, text.MazeID, nil)
	clean, _ := play(real)
	real2, _ := f.realReg.Make(ctx, text.MazeID, nil)
	changed, _ := play(tamper{gym.Wrapper{Env: real2}})
	t.Logf("shadow mean F1: clean %.3f, tampered %.3f", clean, changed)
	if changed >= clean-0.1 {
		t.Fatalf("tampered real env: shadow F1 %.3f, clean %.3f: divergence not logged", changed, clean)
	}
}

func TestMixedMode(t *testing.T) {
	f := maze(t)
	ctx := context.Background()
	e, err := f.reg.Make(ctx, DreamID(text.MazeID), map[string]any{"mode": "mixed", "real_fraction": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	reals := 0
	for s := range int64(40) {
		obs, err := e.Reset(ctx, gym.ResetOptions{Seed: s, TaskID: "easy"})
		if err != nil {
			t.Fatal(err)
		}
		if obs.Info["worldmodel"].(map[string]any)["real"].(bool) {
			reals++
		}
	}
	if reals < 10 || reals > 30 {
		t.Fatalf("%d of 40 episodes real at real_fraction 0.5", reals)
	}
	if _, err := f.reg.Make(ctx, DreamID(text.MazeID), map[string]any{"mode": "bogus"}); err == nil {
		t.Fatal("bad mode accepted")
	}
}

// BenchmarkDreamStep times dream steps of the maze model with random
// valid actions, the prediction memo off (every step predicted afresh).
func BenchmarkDreamStep(b *testing.B) {
	f := maze(b)
	ctx := context.Background()
	in := f.m.inference()
	in.noMemo.Store(true)
	defer in.noMemo.Store(false)
	e := newEnv(f.m, nil, modeDream, 0)
	obs, _ := e.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "easy"})
	b.ResetTimer()
	for i := range b.N {
		r, err := e.Step(ctx, obs.ValidActions[i%len(obs.ValidActions)])
		if err != nil {
			b.Fatal(err)
		}
		obs = r.Observation
		if r.Done() {
			obs, _ = e.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: "easy"})
		}
	}
}

func TestPatch(t *testing.T) {
	nbObs := "Goal: buy a lamp\nURL: /shop/\nTitle: Shop\n\nheading \"Shop\"\n[1] textbox \"Search\""
	nbNext := "Invalid action: bad\n\nGoal: buy a lamp\nURL: /shop/\nTitle: Shop\nLast action error: bad\n\nheading \"Shop\"\n[1] textbox \"Search\""
	obs := "Goal: buy a mug\nURL: /shop/search?q=mug\nTitle: Results\n\n[1] link \"Back\"\n[2] link \"B0001 Mug\""
	want := "Invalid action: bad\n\nGoal: buy a mug\nURL: /shop/search?q=mug\nTitle: Results\nLast action error: bad\n\n[1] link \"Back\"\n[2] link \"B0001 Mug\""
	if got := patch(obs, nbObs, nbNext, nil); got != want {
		t.Fatalf("patch:\n%s\nwant\n%s", got, want)
	}
}
