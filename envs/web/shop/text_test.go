package shop_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/envgym/envgym/envs/web"
	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/shop"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/sdk/envtest"
)

// pick is the comparison's policy: the oracle on oracle episodes; on the
// others, mostly a random valid action (text templates filled with three
// goal words), sometimes the oracle (so that random episodes reach
// product pages and purchases too) or an action the page refuses; after a
// go_back, often go_forward.
func pick(ctx context.Context, env gym.Env, o gym.Observation, oracle bool, prev string, rng *rand.Rand) (string, error) {
	or, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		return "", fmt.Errorf("%s has no oracle", env.Spec().ID)
	}
	if oracle || rng.IntN(3) == 0 {
		return or.OracleAction(ctx)
	}
	if prev == "go_back()" && rng.IntN(2) == 0 {
		return "go_forward()", nil
	}
	if rng.IntN(10) == 0 {
		return []string{"click(99)", "go_back()", "go_forward()", `fill(2, "x")`, "check(1)", "scroll(down)", "nonsense"}[rng.IntN(7)], nil
	}
	a := o.ValidActions[rng.IntN(len(o.ValidActions))]
	if gym.IsTemplate(a) {
		g, _ := gym.Goal(o.Text)
		w := strings.Fields(g)
		from := rng.IntN(len(w) - 3)
		a = gym.FillTemplate(a, strings.Join(w[from:from+3], " "))
	}
	return a, nil
}

// TestTextShopMatchesChromium plays the same seeds and actions on
// web/shop-text-v0 and on web/shop-v0 in a real Chromium, and requires
// the same observation text, valid actions, reward, status, termination
// and success at every step: 30 oracle and 30 random episodes.
func TestTextShopMatchesChromium(t *testing.T) {
	if _, err := browser.FindChromium(); err != nil {
		t.Fatalf("this test needs a real Chromium (scripts/setup.sh installs it): %v", err)
	}
	ctx := context.Background()
	suite := web.New(web.Options{})
	defer suite.Close()
	reg := gym.NewRegistry()
	if err := suite.Register(reg); err != nil { // web/shop-v0 and web/shop-text-v0
		t.Fatal(err)
	}
	real, err := reg.Make(ctx, "web/shop-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	text, err := reg.Make(ctx, shop.TextID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	steps, bought, forwards := 0, 0, 0
	for ep := range 60 {
		seed, oracle := int64(ep), ep%2 == 0
		ro, err := real.Reset(ctx, gym.ResetOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		to, err := text.Reset(ctx, gym.ResetOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if ro.Text != to.Text || !reflect.DeepEqual(ro.ValidActions, to.ValidActions) {
			t.Fatalf("seed %d, reset:\nchromium:\n%s%v\ntext:\n%s%v", seed, ro.Text, ro.ValidActions, to.Text, to.ValidActions)
		}
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		var played []string
		for i := 0; ; i++ {
			prev := ""
			if len(played) > 0 {
				prev = played[len(played)-1]
			}
			a, err := pick(ctx, real, ro, oracle, prev, rng)
			if err != nil {
				t.Fatal(err)
			}
			rr, err := real.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := text.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			steps++
			played = append(played, a)
			if rr.Observation.Text != tr.Observation.Text || !reflect.DeepEqual(rr.Observation.ValidActions, tr.Observation.ValidActions) ||
				rr.Reward != tr.Reward || rr.Status != tr.Status || rr.Terminated != tr.Terminated || rr.Truncated != tr.Truncated ||
				rr.Success() != tr.Success() {
				t.Fatalf("seed %d step %d %s (actions %q):\nchromium (reward %v, %v, terminated %v, truncated %v, success %v):\n%s%v\ntext (reward %v, %v, terminated %v, truncated %v, success %v):\n%s%v",
					seed, i, a, played, rr.Reward, rr.Status, rr.Terminated, rr.Truncated, rr.Success(), rr.Observation.Text, rr.Observation.ValidActions,
					tr.Reward, tr.Status, tr.Terminated, tr.Truncated, tr.Success(), tr.Observation.Text, tr.Observation.ValidActions)
			}
			if a == "go_forward()" && rr.Status == gym.StatusOK {
				forwards++
			}
			if rr.Done() {
				if rr.Terminated {
					bought++
				}
				break
			}
			ro = rr.Observation
		}
	}
	// The oracle buys in every oracle episode; the comparison must have
	// covered purchases and many steps, or it proved little.
	if bought < 30 || steps < 500 || forwards < 3 {
		t.Fatalf("%d purchases and %d go_forward over %d steps: the comparison covered too little", bought, forwards, steps)
	}
	t.Logf("60 episodes, %d steps, %d purchases, %d go_forward: identical", steps, bought, forwards)
}

// TestTextShopOracleAndErrors: the oracle buys the exact product, a
// refused action says why and changes nothing, go_back restores the
// search box's text as a browser does.
func TestTextShopOracleAndErrors(t *testing.T) {
	ctx := context.Background()
	reg := gym.NewRegistry()
	if err := shop.RegisterText(reg); err != nil {
		t.Fatal(err)
	}
	env, err := reg.Make(ctx, shop.TextID, nil)
	if err != nil {
		t.Fatal(err)
	}
	or, _ := gym.Capable[gym.Oracle](env)
	for seed := range int64(20) {
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: seed}); err != nil {
			t.Fatal(err)
		}
		var r gym.StepResult
		for n := 0; !r.Done(); n++ {
			a, _ := or.OracleAction(ctx)
			if r, err = env.Step(ctx, a); err != nil || n > 30 {
				t.Fatalf("seed %d: %v after %d steps", seed, err, n)
			}
		}
		if r.Reward != 1 || !r.Success() {
			t.Fatalf("seed %d: oracle reward %v success %v", seed, r.Reward, r.Success())
		}
	}
	o, _ := env.Reset(ctx, gym.ResetOptions{Seed: 1})
	r, _ := env.Step(ctx, "click(7)")
	if r.Status != gym.StatusInvalidAction || !strings.Contains(r.Observation.Text, "there is no element [7]") {
		t.Fatalf("click(7) on the home page: %v\n%s", r.Status, r.Observation.Text)
	}
	for _, a := range []string{`fill(1, "blue mug")`, "click(2)", "go_back()"} {
		if r, _ = env.Step(ctx, a); r.Status != gym.StatusOK {
			t.Fatalf("%s: %v", a, r.Status)
		}
	}
	if !strings.Contains(r.Observation.Text, `[1] textbox "Search" value="blue mug"`) || strings.Contains(r.Observation.Text, "focused") {
		t.Fatalf("after go_back the box keeps its text, unfocused:\n%s", r.Observation.Text)
	}
	if r, _ = env.Step(ctx, "go_forward()"); r.Status != gym.StatusOK || !strings.Contains(r.Observation.Text, "URL: /shop/search?q=blue+mug") {
		t.Fatalf("go_forward after go_back: %v\n%s", r.Status, r.Observation.Text)
	}
	if r, _ = env.Step(ctx, "go_forward()"); r.Status != gym.StatusInvalidAction || !strings.Contains(r.Observation.Text, "no later page") {
		t.Fatalf("go_forward at the newest page: %v\n%s", r.Status, r.Observation.Text)
	}
	if _, err := env.Reset(ctx, gym.ResetOptions{Seed: 1, TaskID: "nope"}); err == nil {
		t.Fatalf("unknown task accepted (first obs %q)", o.Text)
	}
}

// TestTextShopConformance runs the env authors' conformance suite.
func TestTextShopConformance(t *testing.T) {
	reg := gym.NewRegistry()
	if err := shop.RegisterText(reg); err != nil {
		t.Fatal(err)
	}
	envtest.Test(t, func(ctx context.Context) (gym.Env, error) { return reg.Make(ctx, shop.TextID, nil) }, envtest.Config{})
}
