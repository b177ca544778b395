package envtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
)

func (s *suite) checkSpec(ctx context.Context) error {
	sp := s.spec
	if err := gym.ValidateID(sp.ID); err != nil {
		return err
	}
	if sp.Version == "" {
		return errors.New("Spec().Version is empty: trajectories could not say which env made them")
	}
	if sp.MaxSteps <= 0 {
		s.warn = "Spec().MaxSteps is 0: an episode whose policy never finishes runs forever. Set it: the host truncates episodes at MaxSteps, the env never counts steps"
	}
	seen := map[string]bool{}
	for i, t := range sp.Tasks {
		if t.ID == "" {
			return fmt.Errorf("Spec().Tasks[%d] has an empty id", i)
		}
		if seen[t.ID] {
			return fmt.Errorf("Spec().Tasks has %q twice", t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

func (s *suite) checkStepBeforeReset(ctx context.Context) error {
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(env)
	_, err = env.Step(ctx, "noop")
	if !errors.Is(err, gym.ErrNotReset) {
		return fmt.Errorf("Step before Reset returned err=%v, want gym.ErrNotReset", err)
	}
	return nil
}

// checkDeterminism plays the same seeds in two fresh instances.
func (s *suite) checkDeterminism(ctx context.Context) error {
	a, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(a)
	b, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(b)
	for i := 0; i < s.cfg.Seeds; i++ {
		seed, task := int64(1000+i), s.task(i)
		ra, err := s.play(ctx, a, seed, task, s.cfg.MaxSteps)
		if err != nil {
			return err
		}
		rb, err := s.play(ctx, b, seed, task, s.cfg.MaxSteps)
		if err != nil {
			return err
		}
		if d := s.diff(ra, rb); d != "" {
			s.nondeterministic = true
			if len(ra) > 0 && len(rb) > 0 && ra[0].Text != rb[0].Text {
				return fmt.Errorf("the reset depends on something besides the seed: seed %d, task %q gave two different first observations in two fresh instances. "+
					"Look for the clock (time.Now, time.time()), a global or fixed generator (math/rand's top-level functions, random.random()), map iteration order, or state shared between instances, and derive all randomness from ResetOptions.Seed. %s", seed, task, d)
			}
			return fmt.Errorf("same seed %d, task %q and actions gave different episodes (the steps depend on something besides the seed and the actions: the clock, a global generator, map order): %s", seed, task, d)
		}
	}
	return nil
}

// checkResetIsolation: an episode played after another one must equal the
// same episode played in a fresh instance.
func (s *suite) checkResetIsolation(ctx context.Context) error {
	used, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(used)
	fresh, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(fresh)
	for i := 0; i < 2; i++ {
		if _, err := s.play(ctx, used, int64(77+i), s.task(i+1), s.cfg.MaxSteps); err != nil {
			return err
		}
	}
	seed, task := int64(4242), s.task(0)
	ru, err := s.play(ctx, used, seed, task, s.cfg.MaxSteps)
	if err != nil {
		return err
	}
	rf, err := s.play(ctx, fresh, seed, task, s.cfg.MaxSteps)
	if err != nil {
		return err
	}
	if d := s.diff(ru, rf); d != "" {
		return fmt.Errorf("state leaked between episodes (seed %d after other episodes vs fresh): %s", seed, d)
	}
	return nil
}

// checkGarbage sends hostile actions: each must be INVALID_ACTION (an OK
// no-op is tolerated), never a crash, and the env must still work.
func (s *suite) checkGarbage(ctx context.Context) error {
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(env)
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: 5, TaskID: s.task(0)})
	if err != nil {
		return err
	}
	for _, a := range garbage {
		r, err := env.Step(ctx, a)
		if err != nil {
			return fmt.Errorf("action %q: Step returned an error instead of an INVALID_ACTION observation: %w", clip(a), err)
		}
		switch {
		case r.Status.Infra():
			return fmt.Errorf("action %q: %s: %s", clip(a), r.Status, clip(r.Observation.Text))
		case r.Status == gym.StatusInvalidAction && r.Observation.Text == "":
			return fmt.Errorf("action %q: INVALID_ACTION with an empty observation: tell the agent why", clip(a))
		case r.Status == gym.StatusInvalidAction && r.Reward != 0:
			return fmt.Errorf("action %q: INVALID_ACTION with reward %v, want 0", clip(a), r.Reward)
		case r.Terminated:
			return fmt.Errorf("action %q: garbage terminated the episode", clip(a))
		}
		if r.Truncated { // a step limit may be hit; start again
			if obs, err = env.Reset(ctx, gym.ResetOptions{Seed: 5, TaskID: s.task(0)}); err != nil {
				return err
			}
		}
	}
	if len(obs.ValidActions) > 0 {
		r, err := env.Step(ctx, obs.ValidActions[0])
		if err != nil || r.Status != gym.StatusOK {
			return fmt.Errorf("after garbage, valid action %q gave status %v err %v", obs.ValidActions[0], r.Status, err)
		}
	}
	return nil
}

// checkStepAfterDone plays until the episode ends, then steps once more.
func (s *suite) checkStepAfterDone(ctx context.Context) error {
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(env)
	limit := s.spec.MaxSteps
	if limit <= 0 {
		limit = 1000
	}
	rec, err := s.play(ctx, env, 9, s.task(0), limit+1)
	if err != nil {
		return err
	}
	last := rec[len(rec)-1]
	if !last.Terminated && !last.Truncated {
		return fmt.Errorf("no episode ended within %d steps: set Spec().MaxSteps (the registry truncates there) or end episodes", limit+1)
	}
	if _, err := env.Step(ctx, last.Action); !errors.Is(err, gym.ErrEpisodeDone) {
		return fmt.Errorf("Step after the episode ended returned err=%v, want gym.ErrEpisodeDone", err)
	}
	return nil
}

// checkConcurrent runs instances in parallel; each must equal a
// sequential run of the same seed.
func (s *suite) checkConcurrent(ctx context.Context) error {
	const n = 4
	want := make([][]step, n)
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	for i := range want {
		if want[i], err = s.play(ctx, env, int64(300+i), s.task(i), s.cfg.MaxSteps); err != nil {
			safeClose(env)
			return err
		}
	}
	safeClose(env)
	got := make([][]step, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			errs[i] = protect(func() error {
				e, err := s.make(ctx)
				if err != nil {
					return err
				}
				defer safeClose(e)
				got[i], err = s.play(ctx, e, int64(300+i), s.task(i), s.cfg.MaxSteps)
				return err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := range got {
		if d := s.diff(want[i], got[i]); d != "" {
			return fmt.Errorf("instance %d run concurrently differs from a sequential run: %s", i, d)
		}
	}
	return nil
}

// checkClose makes, uses and closes instances and compares the resources
// of the env's process before and after. Close must also be idempotent
// and make later calls fail.
func (s *suite) checkClose(ctx context.Context) error {
	// One warm-up instance so lazily started shared parts (a browser, an
	// index) are not counted as leaks.
	warm, err := s.make(ctx)
	if err != nil {
		return err
	}
	if _, err := s.play(ctx, warm, 1, s.task(0), 3); err != nil {
		return err
	}
	safeClose(warm)
	before := settle(s.cfg.Probe, ProcessStats{})
	for i := 0; i < 5; i++ {
		env, err := s.make(ctx)
		if err != nil {
			return err
		}
		if _, err := s.play(ctx, env, int64(i), s.task(i), 5); err != nil {
			return err
		}
		if err := env.Close(); err != nil {
			return fmt.Errorf("Close: %w", err)
		}
		if err := env.Close(); err != nil {
			return fmt.Errorf("second Close must be a no-op, got: %w", err)
		}
		if _, err := env.Step(ctx, "noop"); err == nil {
			return errors.New("Step after Close succeeded; want an error (gym.ErrClosed)")
		}
	}
	after := settle(s.cfg.Probe, before)
	var leaks []string
	if d := after.Goroutines - before.Goroutines; d > s.cfg.Slack {
		leaks = append(leaks, fmt.Sprintf("%d goroutines", d))
	}
	if d := after.OpenFiles - before.OpenFiles; d > s.cfg.Slack {
		leaks = append(leaks, fmt.Sprintf("%d open files", d))
	}
	if d := after.Children - before.Children; d > 0 {
		leaks = append(leaks, fmt.Sprintf("%d child processes", d))
	}
	if len(leaks) > 0 {
		return fmt.Errorf("5 closed instances left behind %s (before %+v, after %+v)", strings.Join(leaks, ", "), before, after)
	}
	return nil
}

// settle samples the probe until it stops shrinking toward base, since
// goroutines and processes take a moment to exit after Close.
func settle(probe func() ProcessStats, base ProcessStats) ProcessStats {
	st := probe()
	for i := 0; i < 50; i++ {
		if st.Goroutines <= base.Goroutines && st.OpenFiles <= base.OpenFiles && st.Children <= base.Children && base != (ProcessStats{}) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		next := probe()
		if base == (ProcessStats{}) && next == st {
			break
		}
		st = next
	}
	return st
}

// SelfStats measures this process.
func SelfStats() ProcessStats {
	return ProcessStats{Goroutines: runtime.NumGoroutine(), OpenFiles: countFDs(os.Getpid()), Children: countChildren(os.Getpid())}
}

// PIDStats measures another process (a plugin): open files and children;
// its goroutines are out of sight, so its thread count stands in.
func PIDStats(pid int) ProcessStats {
	return ProcessStats{Goroutines: countThreads(pid), OpenFiles: countFDs(pid), Children: countChildren(pid)}
}

func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

func countThreads(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

// countChildren counts live (non-zombie) processes whose parent is pid.
func countChildren(pid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}

// checkSeedSensitivity plays the first seeds with a policy that ignores
// the seed (the first valid action, else the oracle's): an env whose
// episodes all come out the same ignores its seed (a generator seeded
// with a constant), so every episode of a training run would be one
// episode. Envs that declare Spec.SeedFree, or whose state nothing in the
// observations reveals, are not judged.
func (s *suite) checkSeedSensitivity(ctx context.Context) error {
	if s.spec.SeedFree {
		s.warn = "not judged: the spec declares the env seed-free"
		return nil
	}
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(env)
	steps := min(s.cfg.MaxSteps, 12)
	const seeds = 6
	var first []step
	probed := false
	for seed := range int64(seeds) {
		rec, revealing, err := s.playFixed(ctx, env, seed, s.task(0), steps)
		if err != nil {
			return err
		}
		probed = probed || revealing
		if seed == 0 {
			first = rec
			continue
		}
		if s.diff(first, rec) != "" {
			return nil
		}
	}
	if !probed {
		s.warn = "not judged: seeds 0-5 give the same first observation, and the env offers neither valid actions nor an oracle to look further"
		return nil
	}
	return fmt.Errorf("seeds 0-%d all gave the same episode (same first observation, and the same observations and rewards over %d steps of the same actions): the env ignores ResetOptions.Seed. "+
		"Seed every generator from it (rand.New(rand.NewPCG(uint64(opts.Seed), …)), random.Random(seed)), not from a constant; if the env really has one episode per task, set Spec.SeedFree", seeds-1, steps)
}

// playFixed plays an episode whose actions depend only on what the env
// shows: the first valid action, else the oracle's. revealing says
// whether any such action was available (otherwise only the first
// observation was compared).
func (s *suite) playFixed(ctx context.Context, env gym.Env, seed int64, task string, steps int) ([]step, bool, error) {
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task})
	if err != nil {
		return nil, false, fmt.Errorf("reset(seed=%d, task=%q): %w", seed, task, err)
	}
	out := []step{{Text: obs.Text, Valid: obs.ValidActions}}
	oracle, hasOracle := gym.Capable[gym.Oracle](env)
	revealing := false
	for i := 0; i < steps; i++ {
		var action string
		switch {
		case len(obs.ValidActions) > 0:
			action = obs.ValidActions[0]
		case hasOracle:
			if action, err = oracle.OracleAction(ctx); err != nil {
				return out, revealing, fmt.Errorf("oracle: %w", err)
			}
		default:
			return out, revealing, nil
		}
		revealing = true
		r, err := env.Step(ctx, action)
		if err != nil {
			return out, revealing, fmt.Errorf("step %d %q: %w", i, action, err)
		}
		obs = r.Observation
		out = append(out, step{action, r.Observation.Text, r.Reward, r.Status, r.Terminated, r.Truncated, r.Observation.ValidActions})
		if r.Done() {
			break
		}
	}
	return out, revealing, nil
}

// checkOracleSolves plays the first seeds with the env's oracle: each must
// end in success (StepResult.Success) within the step limit.
func (s *suite) checkOracleSolves(ctx context.Context) error {
	env, err := s.make(ctx)
	if err != nil {
		return err
	}
	defer safeClose(env)
	oracle, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		s.warn = "not judged: the env has no oracle"
		return nil
	}
	limit := s.spec.MaxSteps
	if limit <= 0 {
		limit = 200
	}
	for i := range s.cfg.Seeds {
		seed, task := int64(500+i), s.task(i)
		if _, err := env.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task}); err != nil {
			return fmt.Errorf("reset(seed=%d, task=%q): %w", seed, task, err)
		}
		var last gym.StepResult
		for n := 0; n < limit && !last.Done(); n++ {
			a, err := oracle.OracleAction(ctx)
			if err != nil {
				return fmt.Errorf("seed %d: oracle: %w", seed, err)
			}
			if last, err = env.Step(ctx, a); err != nil {
				return fmt.Errorf("seed %d: step %q: %w", seed, a, err)
			}
		}
		if !last.Success() {
			return fmt.Errorf("the oracle did not solve seed %d, task %q: the episode ended (terminated=%v truncated=%v, reward %v, status %s) without success: %s",
				seed, task, last.Terminated, last.Truncated, last.Reward, last.Status, clip(last.Observation.Text))
		}
	}
	return nil
}
