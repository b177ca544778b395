// Package envtest is the conformance suite every env must pass: the
// contract of package gym, checked by running the env as a registry
// serves it (wrapped in gym.Enforced, which keeps call order and the step
// limit, so the env need not). Use Test from a Go test, or Run (as `gym
// check` does) for a report.
//
//	func TestConformance(t *testing.T) {
//		envtest.Test(t, func(ctx context.Context) (gym.Env, error) { return mypkg.New(ctx, nil) }, envtest.Config{})
//	}
package envtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
)

// NewEnv builds a fresh instance of the env under test.
type NewEnv func(ctx context.Context) (gym.Env, error)

// Config tunes the suite. The zero value is a sensible default.
type Config struct {
	Seeds    int // seeds per determinism check; default 3
	MaxSteps int // steps per played episode; default min(Spec.MaxSteps, 60), or 60
	// Probe measures the process that runs the env, for the leak check.
	// Nil: this process (goroutines, open files, child processes).
	Probe func() ProcessStats
	// Leak tolerance: how many goroutines, files or children may remain
	// after instances are closed. Default 2 (runtime noise).
	Slack int
	// StepTimeout bounds each Reset and Step of the suite (0: none of its
	// own; a plugin host's deadline applies), so a hanging env fails a
	// check quickly instead of holding it for the host's minute.
	StepTimeout time.Duration
	// Verbose keeps observations whole in the diffs of failed checks.
	Verbose bool
	// Oracle adds oracle_solves: the env's oracle must solve the first
	// seeds within the step limit (envs without an oracle skip it).
	Oracle bool
}

// ProcessStats are the resources the leak check watches.
type ProcessStats struct {
	Goroutines int
	OpenFiles  int
	Children   int
}

// Check is one conformance check's outcome.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
	// Warning is a problem that does not fail the check (a spec without
	// a step limit), or why the check could not judge.
	Warning    string  `json:"warning,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Report is the suite's result for one env.
type Report struct {
	EnvID  string  `json:"env_id"`
	Checks []Check `json:"checks"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Failed names the checks that failed.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// Garbage is the set of hostile actions every env must answer with
// StatusInvalidAction (or, at most, a valid no-op) and never a panic.
var garbage = []string{
	"",
	"   ",
	"\x00\x01\x02",
	"\xff\xfe\xfd",
	strings.Repeat("A", 1<<20),
	"ünïcödé 漢字 🚀",
	"click(",
	"((((((((((",
	"'; DROP TABLE envs; --",
	"\n\n\n",
}

type check struct {
	name string
	run  func(s *suite, ctx context.Context) error
}

var checks = []check{
	{"spec", (*suite).checkSpec},
	{"step_before_reset", (*suite).checkStepBeforeReset},
	{"determinism", (*suite).checkDeterminism},
	{"seed_sensitivity", (*suite).checkSeedSensitivity},
	{"reset_isolation", (*suite).checkResetIsolation},
	{"invalid_actions", (*suite).checkGarbage},
	{"step_after_done", (*suite).checkStepAfterDone},
	{"concurrent_instances", (*suite).checkConcurrent},
	{"close_releases", (*suite).checkClose},
}

type suite struct {
	newEnv NewEnv
	cfg    Config
	spec   gym.Spec
	warn   string // set by the running check: its Warning
	// nondeterministic: the determinism check saw the same seed and
	// actions give different episodes (not merely an error).
	nondeterministic bool
}

// Run runs every check and reports; it never panics because the env did.
func Run(ctx context.Context, newEnv NewEnv, cfg Config) Report {
	if cfg.Seeds <= 0 {
		cfg.Seeds = 3
	}
	if cfg.Slack <= 0 {
		cfg.Slack = 2
	}
	if cfg.Probe == nil {
		cfg.Probe = SelfStats
	}
	s := &suite{newEnv: newEnv, cfg: cfg}
	var rep Report
	env, err := s.make(ctx)
	if err != nil {
		return Report{Checks: []Check{{Name: "make", Detail: err.Error()}}}
	}
	s.spec = env.Spec()
	_ = safeClose(env)
	rep.EnvID = s.spec.ID
	if s.cfg.MaxSteps <= 0 {
		s.cfg.MaxSteps = 60
		if m := s.spec.MaxSteps; m > 0 && m < s.cfg.MaxSteps {
			s.cfg.MaxSteps = m
		}
	}
	all := checks
	if cfg.Oracle {
		all = append(all[:len(all):len(all)], check{"oracle_solves", (*suite).checkOracleSolves})
	}
	for _, c := range all {
		start := time.Now()
		s.warn = ""
		err := protect(func() error { return c.run(s, ctx) })
		ck := Check{Name: c.name, Passed: err == nil, Warning: s.warn, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			ck.Detail = err.Error()
		}
		rep.Checks = append(rep.Checks, ck)
	}
	if s.nondeterministic {
		rep.rootCause()
	}
	return rep
}

// rootCause keeps one message for one cause: an env that is not
// deterministic also fails the checks that compare episodes for leaked or
// shared state, and those failures would send its author looking in the
// wrong place.
func (r *Report) rootCause() {
	for i, c := range r.Checks {
		if (c.Name == "reset_isolation" || c.Name == "concurrent_instances") && !c.Passed {
			r.Checks[i].Passed = true
			r.Checks[i].Warning = "not judged: the env is not deterministic (see determinism), so a difference here cannot tell leaked state from randomness"
			r.Checks[i].Detail = ""
		}
	}
}

// Test runs the suite as subtests of t.
func Test(t *testing.T, newEnv NewEnv, cfg Config) {
	t.Helper()
	rep := Run(context.Background(), newEnv, cfg)
	for _, c := range rep.Checks {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Passed {
				t.Errorf("%s: %s", rep.EnvID, c.Detail)
			}
			if c.Warning != "" {
				t.Logf("%s: warning: %s", rep.EnvID, c.Warning)
			}
		})
	}
}

// protect turns a panic in the env into a failed check.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			buf := make([]byte, 4096)
			buf = buf[:runtime.Stack(buf, false)]
			err = fmt.Errorf("env panicked: %v\n%s", p, buf)
		}
	}()
	return f()
}

func safeClose(env gym.Env) error {
	return protect(env.Close)
}

func (s *suite) make(ctx context.Context) (gym.Env, error) {
	env, err := s.newEnv(ctx)
	if err != nil {
		return nil, fmt.Errorf("make env: %w", err)
	}
	if env == nil {
		return nil, errors.New("make env: factory returned nil")
	}
	env = gym.Enforce(env)
	if s.cfg.StepTimeout > 0 {
		// An env that declares slow steps (a test run) keeps its time.
		d := max(s.cfg.StepTimeout, time.Duration(s.spec.StepTimeoutS*float64(time.Second)))
		env = &deadlineEnv{Wrapper: gym.Wrapper{Env: env}, d: d}
	}
	return env, nil
}

// deadlineEnv gives each Reset and Step the suite's StepTimeout.
type deadlineEnv struct {
	gym.Wrapper
	d time.Duration
}

func (e *deadlineEnv) Reset(ctx context.Context, o gym.ResetOptions) (gym.Observation, error) {
	ctx, cancel := context.WithTimeout(ctx, e.d)
	defer cancel()
	return e.Env.Reset(ctx, o)
}

func (e *deadlineEnv) Step(ctx context.Context, a string) (gym.StepResult, error) {
	ctx, cancel := context.WithTimeout(ctx, e.d)
	defer cancel()
	return e.Env.Step(ctx, a)
}

func (s *suite) task(i int) string {
	if len(s.spec.Tasks) == 0 {
		return ""
	}
	return s.spec.Tasks[i%len(s.spec.Tasks)].ID
}

// step is one recorded step of a played episode.
type step struct {
	Action     string
	Text       string
	Reward     float64
	Status     gym.Status
	Terminated bool
	Truncated  bool
	Valid      []string
}

// play runs one episode with a policy that depends only on the seed and
// what the env shows: a seeded pick among valid actions, else the oracle,
// else a fixed probe action. Identical envs must give identical records.
func (s *suite) play(ctx context.Context, env gym.Env, seed int64, task string, steps int) ([]step, error) {
	obs, err := env.Reset(ctx, gym.ResetOptions{Seed: seed, TaskID: task})
	if err != nil {
		return nil, fmt.Errorf("reset(seed=%d, task=%q): %w", seed, task, err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	out := []step{{Text: obs.Text, Valid: obs.ValidActions}}
	oracle, hasOracle := gym.Capable[gym.Oracle](env)
	for i := 0; i < steps; i++ {
		action := "noop"
		switch {
		case len(obs.ValidActions) > 0:
			action = obs.ValidActions[rng.IntN(len(obs.ValidActions))]
		case hasOracle:
			if action, err = oracle.OracleAction(ctx); err != nil {
				return out, fmt.Errorf("oracle: %w", err)
			}
		}
		r, err := env.Step(ctx, action)
		if err != nil {
			return out, fmt.Errorf("step %d %q: %w", i, action, err)
		}
		if r.Status.Infra() {
			return out, fmt.Errorf("step %d %q: infrastructure failure %s: %s", i, action, r.Status, r.Observation.Text)
		}
		obs = r.Observation
		out = append(out, step{action, r.Observation.Text, r.Reward, r.Status, r.Terminated, r.Truncated, r.Observation.ValidActions})
		if r.Done() {
			break
		}
	}
	return out, nil
}

func (s *suite) diff(a, b []step) string {
	clip := clip
	if s.cfg.Verbose {
		clip = func(t string) string { return "\n" + t + "\n" }
	}
	for i := 0; i < min(len(a), len(b)); i++ {
		x, y := a[i], b[i]
		if x.Text != y.Text || x.Reward != y.Reward || x.Status != y.Status || x.Terminated != y.Terminated || x.Truncated != y.Truncated || !slices.Equal(x.Valid, y.Valid) {
			what := fmt.Sprintf("step %d (action %q)", i, x.Action)
			if i == 0 {
				what = "the first observation (after Reset)"
			}
			return fmt.Sprintf("%s differs:\n  first:  %s reward=%v status=%s\n  second: %s reward=%v status=%s",
				what, clip(x.Text), x.Reward, x.Status, clip(y.Text), y.Reward, y.Status)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("episode lengths differ: %d vs %d steps", len(a), len(b))
	}
	return ""
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", "⏎")
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
