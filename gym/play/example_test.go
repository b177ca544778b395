package play_test

import (
	"context"
	"fmt"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

// leftThenWin answers for every live env at once, as a network scoring a
// batch does: "left" on an episode's first step, "win" after.
type leftThenWin struct{ steps map[int]int }

func (p *leftThenWin) Begin(env int, _ int64) { p.steps[env] = 0 }

func (p *leftThenWin) ActBatch(_ context.Context, envs []int, _ []gym.Observation) ([]string, error) {
	acts := make([]string, len(envs))
	for j, i := range envs {
		acts[j] = []string{"left", "win"}[min(p.steps[i], 1)]
		p.steps[i]++
	}
	return acts, nil
}

// Play five episodes over two envs in lockstep: each round the policy
// chooses for both envs in one call, and a finished env starts the next
// episode.
func ExampleBatch() {
	ctx := context.Background()
	reg := gym.NewRegistry()
	reg.MustRegister((&thirdParty{}).Spec(), func(context.Context, map[string]any) (gym.Env, error) { return &thirdParty{}, nil })
	envs := make([]gym.Env, 2)
	for i := range envs {
		env, err := reg.Make(ctx, "other/third-v0", nil)
		if err != nil {
			panic(err)
		}
		defer env.Close()
		envs[i] = env
	}
	stats, err := play.Batch(ctx, envs, &leftThenWin{steps: map[int]int{}}, play.BatchOptions{
		Episodes: 5,
		Reset:    func(e int) gym.ResetOptions { return gym.ResetOptions{Seed: 100 + int64(e)} },
		OnStep: func(s play.Step) {
			if s.Result.Done() {
				fmt.Printf("env %d finished episode %d\n", s.Env, s.Episode)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	for e, st := range stats {
		fmt.Printf("episode %d: %d steps, return %g, success %v\n", e, st.Steps, st.Return, st.Success)
	}
	// Output:
	// env 0 finished episode 0
	// env 1 finished episode 1
	// env 0 finished episode 2
	// env 1 finished episode 3
	// env 0 finished episode 4
	// episode 0: 2 steps, return 1, success true
	// episode 1: 2 steps, return 1, success true
	// episode 2: 2 steps, return 1, success true
	// episode 3: 2 steps, return 1, success true
	// episode 4: 2 steps, return 1, success true
}
