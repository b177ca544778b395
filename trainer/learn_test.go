package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/envgym/envgym/gym"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// lampsID is a tiny deterministic env for the learning test: two lamps in
// a row, each glowing one of three colours; pressing the button of the
// lamp's colour moves on, any other button ends the episode in failure.
// Uniform random play wins 1/9 of the time; reading the observation wins
// always, so it checks that the whole loop (tokenizer, policy, rollout,
// PPO) learns, in seconds.
const lampsID = "test/lamps-v0"

var lampColors = []string{"red", "green", "blue"}

type lamps struct {
	seq  []string
	at   int
	done bool
}

func (l *lamps) obs() gym.Observation {
	acts := make([]string, len(lampColors))
	for i, c := range lampColors {
		acts[i] = "press " + c
	}
	return gym.Observation{Text: fmt.Sprintf("Lamp %d of %d.\nThe lamp glows %s.", l.at+1, len(l.seq), l.seq[l.at]),
		ValidActions: acts}
}

func (l *lamps) Reset(_ context.Context, o gym.ResetOptions) (gym.Observation, error) {
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x1a))
	l.seq = []string{lampColors[r.IntN(3)], lampColors[r.IntN(3)]}
	l.at, l.done = 0, false
	return l.obs(), nil
}

func (l *lamps) Step(_ context.Context, a string) (gym.StepResult, error) {
	if l.seq == nil {
		return gym.StepResult{}, gym.ErrNotReset
	}
	if l.done {
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	if a != "press "+l.seq[l.at] {
		l.done = true
		return gym.StepResult{Observation: gym.Observation{Text: "Wrong button. The lamps go dark.",
			Info: map[string]any{"success": false}}, Terminated: true}, nil
	}
	l.at++
	if l.at == len(l.seq) {
		l.done = true
		return gym.StepResult{Observation: gym.Observation{Text: "All lamps are off. Well done.",
			Info: map[string]any{"success": true}}, Reward: 1, Terminated: true}, nil
	}
	return gym.StepResult{Observation: l.obs()}, nil
}

func (l *lamps) Spec() gym.Spec {
	return gym.Spec{ID: lampsID, Version: "0", Tasks: []gym.Task{{ID: "lamps"}}, MaxSteps: 2, Deterministic: true}
}

func (l *lamps) Close() error { return nil }

func lampsRegistry(t *testing.T) *gym.Registry {
	t.Helper()
	r := gym.NewRegistry()
	err := r.Register((&lamps{}).Spec(), func(context.Context, map[string]any) (gym.Env, error) { return &lamps{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPPOLearnsTinyEnv: outcome-only PPO from an untrained policy takes
// the lamps env from about 1/9 to > 95 % success (sampled, 200 held-out
// seeds), and the trained policy's checkpoint gives the same action
// probabilities after save and load.
func TestPPOLearnsTinyEnv(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Registry: lampsRegistry(t), EnvID: lampsID, Task: "lamps", Iterations: 12, StepsPerIter: 256,
		NumEnvs: 8, Seed: 1, EvalEpisodes: 200, OutDir: dir, Policy: PolicyConfig{Embed: 16, Hidden: 32},
		Minibatch: 64, LR: 3e-3, TargetKL: 0.02,
		Progress: func(it IterStats) {
			t.Logf("iter %2d steps %4d success %.2f entropy %.2f kl %.4f", it.Iter, it.EnvSteps, it.Success, it.Entropy, it.ApproxKL)
		}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("success untrained %.3f, after %d env steps %.3f", rep.SuccessUntrained, rep.EnvSteps, rep.SuccessAfter)
	if rep.SuccessUntrained > 0.3 {
		t.Fatalf("untrained success %.3f: the env is not as hard as meant", rep.SuccessUntrained)
	}
	if rep.SuccessAfter <= 0.95 {
		t.Fatalf("success after PPO %.3f, want > 0.95", rep.SuccessAfter)
	}
	// Save -> load -> identical probabilities and values, on the trained
	// policy (non-trivial weights) with a history slot filled.
	locked(t, func(dev gotch.Device) {
		p, err := LoadPolicy(dir, dev)
		if err != nil {
			t.Error(err)
			return
		}
		q, err := LoadPolicy(dir, dev)
		if err != nil {
			t.Error(err)
			return
		}
		env := &lamps{}
		o, _ := env.Reset(context.Background(), gym.ResetOptions{Seed: 5})
		batch := func(p *Policy) []Sample {
			return []Sample{p.sample(o.Text, nil, o.ValidActions), p.sample(o.Text, []string{"press red"}, o.ValidActions)}
		}
		a, av := p.Probs(batch(p))
		b, bv := q.Probs(batch(q))
		for i := range a {
			for j := range a[i] {
				if a[i][j] != b[i][j] {
					t.Errorf("probs after a second load differ: %v vs %v", a, b)
					return
				}
			}
			if av[i] != bv[i] {
				t.Errorf("values differ: %v vs %v", av, bv)
				return
			}
		}
		best := 0.0
		for _, x := range a[0] {
			best = max(best, x)
		}
		if best < 0.9 {
			t.Errorf("loaded policy is not the trained one: probs %v", a[0])
		}
		// The loaded policy plays exactly as the one that was saved: the
		// same seeds and sampling give the same success, here over 3 envs
		// where training evaluated over 8 (the result must not depend on
		// the vector width).
		envs := []gym.Env{&lamps{}, &lamps{}, &lamps{}}
		ev, err := evaluateVec(context.Background(), p, envs, "lamps", cfg.evalSeed(), 200, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if ev.Success != rep.SuccessAfter {
			t.Errorf("loaded policy: success %.3f, the saved one had %.3f on the same seeds", ev.Success, rep.SuccessAfter)
		}
	})
}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// TestAdvantagesHandComputed checks GAE and GRPO's group normalisation
// against values worked out by hand (in the comments).
func TestAdvantagesHandComputed(t *testing.T) {
	// γ 0.9, λ 0.8, rewards (0, 1), values (0.5, 0.2):
	// t=1: δ = 1 + 0.9·0 - 0.2 = 0.8,           A = 0.8,                 R = 1.0
	// t=0: δ = 0 + 0.9·0.2 - 0.5 = -0.32,       A = -0.32 + 0.72·0.8 = 0.256, R = 0.756
	adv, ret := GAE([]float64{0, 1}, []float64{0.5, 0.2}, 0.9, 0.8)
	near(t, "GAE adv", adv, []float64{0.256, 0.8})
	near(t, "GAE ret", ret, []float64{0.756, 1.0})
	// Bootstrapped with V(s_T) = 1: δ_1 = 1 + 0.9 - 0.2 = 1.7; A_0 = -0.32 + 0.72·1.7 = 0.904.
	adv, ret = GAEBootstrap([]float64{0, 1}, []float64{0.5, 0.2}, 1, 0.9, 0.8)
	near(t, "GAE bootstrap adv", adv, []float64{0.904, 1.7})
	near(t, "GAE bootstrap ret", ret, []float64{1.404, 1.9})
	// Group (1, 0, 0, 0): mean 0.25, sd sqrt(0.1875) = 0.4330127;
	// A = 0.75/0.4330127 = 1.7320508 and -0.25/0.4330127 = -0.5773503.
	near(t, "group adv", GroupAdvantages([]float64{1, 0, 0, 0}), []float64{1.7320508, -0.5773503, -0.5773503, -0.5773503})
	near(t, "group without spread", GroupAdvantages([]float64{1, 1}), []float64{0, 0})

	// grpoItems gives every step of an episode its episode's advantage.
	eps := []episode{{success: true, steps: make([]step, 2)}, {steps: make([]step, 1)}, {steps: make([]step, 3)}, {steps: make([]step, 1)}}
	var got []float64
	for _, it := range grpoItems(eps, 4) {
		got = append(got, it.adv)
	}
	a, b := 1.7320508, -0.5773503
	near(t, "grpo items", got, []float64{a, a, b, b, b, b, b})

	// ppoItems: outcome-only rewards put the outcome on the last step.
	e := episode{success: true, steps: []step{{value: 0.5}, {value: 0.2}}}
	items := ppoItems([]episode{e}, outcomeRewards([]episode{e}), 0.9, 0.8)
	near(t, "ppo items adv", []float64{items[0].adv, items[1].adv}, []float64{0.256, 0.8})
	near(t, "ppo items ret", []float64{items[0].ret, items[1].ret}, []float64{0.756, 1.0})
}

// TestClippedSurrogateHandComputed checks PPO's clipped loss and that
// clipped samples pass no gradient, ε = 0.2:
//
//	ρ = 0.5/0.25 = 2,  A = +1:  min(2·1, 1.2·1)        = 1.2  (clipped)
//	ρ = 0.3/0.6 = 0.5, A = -2:  min(0.5·-2, 0.8·-2)    = -1.6 (clipped)
//	ρ = 1,             A = 0.5: min(0.5, 0.5)          = 0.5
//
// loss = -(1.2 - 1.6 + 0.5)/3 = -0.0333333; d loss/d lp = (0, 0, -ρA/3 = -0.1666667).
func TestClippedSurrogateHandComputed(t *testing.T) {
	locked(t, func(gotch.Device) {
		lp := ts.MustOfSlice([]float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.4))})
		lp.MustRequiresGrad_(true)
		old := ts.MustOfSlice([]float32{float32(math.Log(0.25)), float32(math.Log(0.6)), float32(math.Log(0.4))})
		adv := ts.MustOfSlice([]float32{1, -2, 0.5})
		loss, _, ratio := clippedSurrogate(lp, old, adv, 0.2)
		if got := loss.Float64Values(false)[0]; math.Abs(got-(-0.1/3)) > 1e-6 {
			t.Errorf("loss %v, want %v", got, -0.1/3)
			return
		}
		r := ratio.Float64Values(false)
		if math.Abs(r[0]-2) > 1e-5 || math.Abs(r[1]-0.5) > 1e-5 || math.Abs(r[2]-1) > 1e-5 {
			t.Errorf("ratios %v, want 2, 0.5, 1", r)
			return
		}
		loss.MustBackward()
		g := lp.MustGrad(false).Float64Values(true)
		if math.Abs(g[0]) > 1e-7 || math.Abs(g[1]) > 1e-7 || math.Abs(g[2]-(-0.5/3)) > 1e-6 {
			t.Errorf("gradient %v, want 0, 0, %v", g, -0.5/3)
		}
	})
}

// TestInfraStepsNotInLoss: an episode with a CRASHED, TIMEOUT or
// ENV_ERROR step is counted and dropped before rewards, advantages and the
// loss are computed; it does not move GRPO's group statistics either.
func TestInfraStepsNotInLoss(t *testing.T) {
	ok := func(win bool, n int) episode {
		e := episode{success: win}
		for range n {
			e.steps = append(e.steps, step{act: 0, status: gym.StatusOK, grounded: true})
		}
		return e
	}
	var eps []episode
	for _, st := range []gym.Status{gym.StatusCrashed, gym.StatusTimeout, gym.StatusEnvError} {
		// act 7 marks the steps that must not reach the loss.
		eps = append(eps, episode{infra: true, steps: []step{{act: 7, status: gym.StatusOK}, {act: 7, status: st}}})
	}
	eps = append(eps[:1], append([]episode{ok(true, 2), ok(false, 3)}, eps[1:]...)...)
	scored, infra := splitInfra(eps)
	if infra != 3 || len(scored) != 2 {
		t.Fatalf("split: %d scored, %d infra; want 2 and 3", len(scored), infra)
	}
	items := ppoItems(scored, outcomeRewards(scored), 0.99, 0.95)
	g := grpoItems(scored, 5)
	if len(items) != 5 || len(g) != 5 {
		t.Fatalf("items: ppo %d, grpo %d; want the 5 scored steps", len(items), len(g))
	}
	for _, it := range append(items, g...) {
		if it.act == 7 {
			t.Fatalf("a step of an infra episode reached the loss: %+v", it)
		}
	}
	// Scored 0, the three crashed episodes would have made the group
	// (1, 0, 0, 0, 0); without them it is (1, 0): advantages ±1.
	near(t, "grpo advantages", []float64{g[0].adv, g[2].adv}, []float64{1, -1})
}
