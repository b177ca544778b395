// Package play drives envs with policies: the Policy interface, the
// policies every caller needs (random, oracle, human, a mix, a script) and
// Episode, the one loop that plays an episode to its end. gym run, gym
// chaos, gym bench, trajectory replay, evaluation and data collection all
// play through it, so an episode is counted the same way everywhere.
package play

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/envgym/envgym/gym"
)

// Policy chooses actions. llm.Policy and trainer.Actor satisfy it.
type Policy interface {
	// Begin is called before each episode with the episode's seed, so a
	// sampling policy repeats under the same seed.
	Begin(seed int64)
	// Act returns the action to take on obs. An error ends the episode;
	// ErrStop ends it without being one.
	Act(ctx context.Context, obs gym.Observation) (string, error)
}

// Reporter is implemented by policies that want each step's outcome (a
// history for the next prompt, a person watching).
type Reporter interface {
	Report(res gym.StepResult, done bool)
}

// Informer is implemented by policies with something to record about
// each choice (an LLM: token usage and the raw reply). Episode hands it
// to Options.Record and OnStep.
type Informer interface {
	PolicyInfo() map[string]any
}

// ErrStop, returned by Act, stops the episode where it is: not a failure
// (a script that ran out of actions).
var ErrStop = errors.New("play: policy stopped the episode")

// valid returns obs's valid actions, or those va lists when obs has none.
func valid(ctx context.Context, obs gym.Observation, va gym.ValidActioner) ([]string, error) {
	if len(obs.ValidActions) > 0 || va == nil {
		return obs.ValidActions, nil
	}
	acts, err := va.ValidActions(ctx)
	if err != nil {
		return nil, fmt.Errorf("valid actions: %w", err)
	}
	return acts, nil
}

// randomPolicy picks uniformly among the valid actions, from a generator
// seeded with the episode seed.
type randomPolicy struct {
	envID string
	va    gym.ValidActioner // nil when the env lacks the capability
	rng   *rand.Rand
}

// Random picks uniformly among the observation's valid actions (or those
// env's ValidActioner lists), seeded by the episode seed so runs repeat.
// An env that lists no actions makes Act fail, saying so.
func Random(env gym.Env) Policy {
	va, _ := gym.Capable[gym.ValidActioner](env)
	return &randomPolicy{envID: env.Spec().ID, va: va, rng: newRand(0)}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 0x5eed)) }

func (p *randomPolicy) Begin(seed int64) { p.rng = newRand(seed) }

func (p *randomPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	acts, err := valid(ctx, obs, p.va)
	if err != nil {
		return "", fmt.Errorf("random policy: %w", err)
	}
	if len(acts) == 0 {
		return "", fmt.Errorf("random policy: env %s lists no valid actions, so there is nothing to choose from; use an oracle or a human", p.envID)
	}
	return acts[p.rng.IntN(len(acts))], nil
}

// oraclePolicy asks the env's scripted solver.
type oraclePolicy struct{ o gym.Oracle }

// Oracle asks env's scripted solver (gym.Oracle) for every action; an env
// without one is an error that lists what the env can do.
func Oracle(env gym.Env) (Policy, error) {
	o, ok := gym.Capable[gym.Oracle](env)
	if !ok {
		caps := "none"
		if c := gym.Capabilities(env); len(c) > 0 {
			caps = strings.Join(c, ", ")
		}
		return nil, fmt.Errorf("env %s has no oracle (its capabilities: %s)", env.Spec().ID, caps)
	}
	return oraclePolicy{o}, nil
}

func (oraclePolicy) Begin(int64) {}

func (p oraclePolicy) Act(ctx context.Context, _ gym.Observation) (string, error) {
	a, err := p.o.OracleAction(ctx)
	if err != nil {
		return "", fmt.Errorf("oracle: %w", err)
	}
	return a, nil
}

// mixPolicy asks the oracle with probability pOracle, otherwise picks a
// random valid action; each falls back on the other.
type mixPolicy struct {
	envID   string
	o       gym.Oracle // nil: random only
	va      gym.ValidActioner
	pOracle float64
	salt    uint64
	rng     *rand.Rand
}

// Mix plays env's oracle with probability pOracle and a random valid
// action otherwise (falling back on the oracle where the env lists no
// actions, and on a random action where the oracle fails): episodes that
// wander and still finish, as soak tests and data collection want. Its
// generator is seeded with the episode seed and salt.
func Mix(env gym.Env, pOracle float64, salt uint64) Policy {
	o, _ := gym.Capable[gym.Oracle](env)
	va, _ := gym.Capable[gym.ValidActioner](env)
	p := &mixPolicy{envID: env.Spec().ID, o: o, va: va, pOracle: pOracle, salt: salt}
	p.Begin(0)
	return p
}

func (p *mixPolicy) Begin(seed int64) { p.rng = rand.New(rand.NewPCG(uint64(seed), p.salt)) }

func (p *mixPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if p.o != nil && p.rng.Float64() < p.pOracle {
		if a, err := p.o.OracleAction(ctx); err == nil {
			return a, nil
		}
	}
	acts, err := valid(ctx, obs, p.va)
	if err != nil {
		return "", err
	}
	if len(acts) == 0 {
		if p.o != nil {
			return p.o.OracleAction(ctx)
		}
		return "", fmt.Errorf("env %s lists no valid actions and has no oracle", p.envID)
	}
	return acts[p.rng.IntN(len(acts))], nil
}

// First plays env's first listed valid action, else its oracle's, else
// "noop": the cheapest deterministic policy, for benchmarks that time the
// env and not the choice.
func First(env gym.Env) Policy {
	o, _ := gym.Capable[gym.Oracle](env)
	return firstPolicy{o}
}

type firstPolicy struct{ o gym.Oracle }

func (firstPolicy) Begin(int64) {}

func (p firstPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if len(obs.ValidActions) > 0 {
		return obs.ValidActions[0], nil
	}
	if p.o != nil {
		if a, err := p.o.OracleAction(ctx); err == nil {
			return a, nil
		}
	}
	return "noop", nil
}

// Until wraps p so it stops the episode (ErrStop) once stop reports true,
// e.g. at a benchmark's deadline.
func Until(p Policy, stop func() bool) Policy { return untilPolicy{p, stop} }

type untilPolicy struct {
	Policy
	stop func() bool
}

func (u untilPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if u.stop() {
		return "", ErrStop
	}
	return u.Policy.Act(ctx, obs)
}

// Script plays the given actions in order, then stops (ErrStop): a
// recorded episode, a test's fixed moves.
func Script(actions ...string) Policy { return &scriptPolicy{actions: actions} }

type scriptPolicy struct {
	actions []string
	next    int
}

func (p *scriptPolicy) Begin(int64) { p.next = 0 }

func (p *scriptPolicy) Act(context.Context, gym.Observation) (string, error) {
	if p.next >= len(p.actions) {
		return "", ErrStop
	}
	p.next++
	return p.actions[p.next-1], nil
}

// humanPolicy lets a person play in a terminal.
type humanPolicy struct {
	out   io.Writer
	lines <-chan lineOrErr
}

type lineOrErr struct {
	line string
	err  error
}

// Human lets a person play: each observation and its numbered valid
// actions go to out, and one line of in is the action (a number picks a
// listed action). It reports every step's status and reward.
func Human(in io.Reader, out io.Writer) Policy {
	return &humanPolicy{out: out, lines: lineReader(in)}
}

// lineReader reads r line by line in a goroutine, so a read can be
// abandoned when the context is cancelled.
func lineReader(r io.Reader) <-chan lineOrErr {
	ch := make(chan lineOrErr)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ch <- lineOrErr{line: sc.Text()}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		ch <- lineOrErr{err: err}
		close(ch)
	}()
	return ch
}

func (p *humanPolicy) Begin(seed int64) {
	fmt.Fprintf(p.out, "\n=== new episode (seed %d) ===\n", seed)
}

func (p *humanPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	fmt.Fprintf(p.out, "\n%s\n", obs.Text)
	for i, a := range obs.ValidActions {
		fmt.Fprintf(p.out, "  %d) %s\n", i+1, a)
	}
	for {
		if len(obs.ValidActions) > 0 {
			fmt.Fprint(p.out, "action (number or text)> ")
		} else {
			fmt.Fprint(p.out, "action> ")
		}
		var l lineOrErr
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case l = <-p.lines:
		}
		if l.err != nil {
			if errors.Is(l.err, io.EOF) {
				return "", errors.New("human policy: stdin closed")
			}
			return "", fmt.Errorf("human policy: read stdin: %w", l.err)
		}
		s := strings.TrimSpace(l.line)
		if s == "" {
			continue
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(obs.ValidActions) {
			return obs.ValidActions[n-1], nil
		}
		return s, nil
	}
}

func (p *humanPolicy) Report(res gym.StepResult, done bool) {
	fmt.Fprintf(p.out, "-> status %s, reward %g\n", res.Status, res.Reward)
	if done {
		how := "terminated"
		if !res.Terminated {
			how = "truncated"
		}
		fmt.Fprintf(p.out, "\n%s\n=== episode %s ===\n", res.Observation.Text, how)
	}
}
