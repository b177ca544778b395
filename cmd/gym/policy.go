package main

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

// policy chooses actions for `gym run`.
type policy interface {
	// Begin is called before each episode with the episode's seed.
	Begin(seed int64)
	Act(ctx context.Context, obs gym.Observation) (string, error)
}

// stepReporter is implemented by policies that show outcomes (human).
type stepReporter interface {
	Report(res gym.StepResult, done bool)
}

// policyNames lists the policies of `gym run --policy`.
func policyNames() []string { return []string{"random", "oracle", "human"} }

func newPolicy(a *app, name string, env gym.Env) (policy, error) {
	switch name {
	case "random":
		va, _ := gym.Capable[gym.ValidActioner](env)
		return &randomPolicy{envID: env.Spec().ID, va: va}, nil
	case "oracle":
		o, ok := gym.Capable[gym.Oracle](env)
		if !ok {
			caps := "none"
			if c := gym.Capabilities(env); len(c) > 0 {
				caps = strings.Join(c, ", ")
			}
			return nil, fmt.Errorf("--policy oracle: env %s has no oracle (its capabilities: %s); try --policy random or human", env.Spec().ID, caps)
		}
		return oraclePolicy{o}, nil
	case "human":
		return &humanPolicy{out: a.stdout, lines: lineReader(a.stdin)}, nil
	}
	return nil, fmt.Errorf("--policy %q: want one of %s", name, strings.Join(policyNames(), ", "))
}

// randomPolicy picks uniformly among the observation's valid actions (or
// those the env's ValidActioner lists), from a generator seeded with the
// episode seed, so runs repeat.
type randomPolicy struct {
	envID string
	va    gym.ValidActioner // nil when the env lacks the capability
	rng   *rand.Rand
}

func (p *randomPolicy) Begin(seed int64) {
	p.rng = rand.New(rand.NewPCG(uint64(seed), 0x5eed))
}

func (p *randomPolicy) Act(ctx context.Context, obs gym.Observation) (string, error) {
	if len(obs.ValidActions) == 0 && p.va != nil {
		acts, err := p.va.ValidActions(ctx)
		if err != nil {
			return "", fmt.Errorf("--policy random: valid actions: %w", err)
		}
		obs.ValidActions = acts
	}
	if len(obs.ValidActions) == 0 {
		return "", fmt.Errorf("--policy random: env %s lists no valid actions in its observation, so there is nothing to choose from; use --policy oracle or human", p.envID)
	}
	return obs.ValidActions[p.rng.IntN(len(obs.ValidActions))], nil
}

// oraclePolicy asks the env's scripted solver.
type oraclePolicy struct{ o gym.Oracle }

func (oraclePolicy) Begin(int64) {}

func (p oraclePolicy) Act(ctx context.Context, _ gym.Observation) (string, error) {
	a, err := p.o.OracleAction(ctx)
	if err != nil {
		return "", fmt.Errorf("oracle: %w", err)
	}
	return a, nil
}

// humanPolicy lets a person play in the terminal: it prints the
// observation and the numbered valid actions and reads one line.
type humanPolicy struct {
	out   io.Writer
	lines <-chan lineOrErr
}

type lineOrErr struct {
	line string
	err  error
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
				return "", errors.New("--policy human: stdin closed")
			}
			return "", fmt.Errorf("--policy human: read stdin: %w", l.err)
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
