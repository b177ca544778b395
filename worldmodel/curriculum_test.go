package worldmodel

import (
	"context"
	"strings"
	"testing"

	"github.com/envgym/envgym/envs/text"
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

func curriculumModel() *Model {
	goals := []string{
		"Goal: buy a blue lightweight sneakers, size 7",
		"Goal: buy a white canvas sneakers, size 9",
		"Goal: buy a red fleece hoodie, size M",
	}
	var steps []trajectory.Step
	for e, g := range goals {
		ep := string(rune('a' + e))
		steps = append(steps,
			trajectory.Step{EpisodeID: ep, TaskID: "shop", Step: 0, Obs: g + "\nTitle: Shop", Action: "click(1)", NextObs: g + "\nTitle: Results"},
			trajectory.Step{EpisodeID: ep, TaskID: "shop", Step: 1, Obs: g + "\nTitle: Results", Action: "click(2)", NextObs: g + "\nTitle: Item"})
	}
	return &Model{Buf: NewBuffer(steps)}
}

// TestCurriculumFavoursVariance: after tasks that always succeed, always
// fail and succeed half the time, the curriculum draws the last most.
func TestCurriculumFavoursVariance(t *testing.T) {
	c := NewCurriculum(curriculumModel(), 0)
	if st := c.Stats("shop"); st.Instances != 3 || st.Variations != 0 {
		t.Fatalf("stats %+v, want 3 real instances", st)
	}
	for k := range 20 {
		c.record("shop", 0, 1)
		c.record("shop", 1, 0)
		c.record("shop", 2, float64(k%2))
	}
	count := make([]int, 3)
	for s := range int64(400) {
		i, st, err := c.pick("shop", s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(st.text, "Goal: ") {
			t.Fatalf("start %q", st.text)
		}
		count[i]++
	}
	if count[2] < 300 || count[0] == 0 || count[1] == 0 {
		t.Fatalf("draws %v: want the 50/50 task most (≥ 300 of 400), the others still sometimes", count)
	}
	if st := c.Stats("shop"); st.Episodes != 60 || st.Covered != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCurriculumVariations: variations recombine two goals' differing
// runs of words and keep the rest of the start page.
func TestCurriculumVariations(t *testing.T) {
	c := NewCurriculum(curriculumModel(), 10)
	st := c.Stats("shop")
	if st.Variations == 0 || st.Instances != 3+st.Variations {
		t.Fatalf("stats %+v, want synthesised variations", st)
	}
	tc := c.tasks["shop"]
	want := "Goal: buy a blue lightweight sneakers, size 9\nTitle: Shop" // episode a's goal with b's size
	found := false
	for _, s := range tc.starts[3:] {
		if s.text == want {
			found = true
		}
		if !strings.HasSuffix(s.text, "\nTitle: Shop") || !strings.HasPrefix(s.origin, "variation of ") {
			t.Fatalf("variation %+v", s)
		}
	}
	if !found {
		t.Fatalf("no variation %q among %+v", want, tc.starts[3:])
	}
}

// TestCurriculumDreamEnv: a dream env registered with a curriculum starts
// its episodes from it and reports every finished episode back.
func TestCurriculumDreamEnv(t *testing.T) {
	f := maze(t)
	ctx := context.Background()
	cur := NewCurriculum(f.m, 20)
	reg := gym.NewRegistry()
	if err := RegisterCurriculum(reg, f.realReg, f.m, cur); err != nil {
		t.Fatal(err)
	}
	env, err := reg.Make(ctx, DreamID(text.MazeID), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	for ep := range int64(5) {
		obs, err := env.Reset(ctx, gym.ResetOptions{Seed: ep, TaskID: "easy"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := obs.Info["worldmodel"].(map[string]any)["curriculum"]; !ok {
			t.Fatalf("reset info %v has no curriculum instance", obs.Info)
		}
		for i := 0; ; i++ {
			r, err := env.Step(ctx, obs.ValidActions[i%len(obs.ValidActions)])
			if err != nil {
				t.Fatal(err)
			}
			if r.Done() {
				break
			}
			obs = r.Observation
		}
	}
	st := cur.Stats("easy")
	if st.Episodes != 5 || st.Covered == 0 || st.Instances <= st.Variations {
		t.Fatalf("curriculum stats %+v, want 5 recorded episodes", st)
	}
}

// TestDreamMazeNotTriviallyWon: a random policy in the maze dream
// succeeds sometimes, but not always: the dream must neither withhold the
// goal reward nor pay it for any termination (both happened while the
// reward rules were being changed, and each wrecks a dream-trained
// policy). The real maze gives a random policy about 0.16.
func TestDreamMazeNotTriviallyWon(t *testing.T) {
	f := maze(t)
	ctx := context.Background()
	env := newEnv(f.m, nil, modeDream, 0)
	succ := 0
	const episodes = 100
	for ep := range int64(episodes) {
		obs, err := env.Reset(ctx, gym.ResetOptions{Seed: ep, TaskID: "easy"})
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); ; i++ {
			r, err := env.Step(ctx, obs.ValidActions[int(mix(ep*1000+i, "a")%uint64(len(obs.ValidActions)))])
			if err != nil {
				t.Fatal(err)
			}
			if r.Done() {
				if s, _ := r.Observation.Info["success"].(bool); s {
					succ++
				}
				break
			}
			obs = r.Observation
		}
	}
	if succ == 0 || succ > episodes*6/10 {
		t.Fatalf("random policy succeeded in %d of %d dream episodes, want some but at most 60 %%", succ, episodes)
	}
}
