package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/llm"
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

// policyInformer is implemented by policies with something to record
// about each choice (openai: token usage and the raw reply).
type policyInformer interface {
	PolicyInfo() map[string]any
}

// policyInfoSetter is implemented by trajectory.Recorder.
type policyInfoSetter interface {
	SetPolicyInfo(map[string]any)
}

// attachPolicyInfo hands the policy's record of its last choice to the
// recorder in env's wrapper chain, if both exist, for the next step.
func attachPolicyInfo(env gym.Env, pol policy) {
	pi, ok := pol.(policyInformer)
	if !ok {
		return
	}
	for env != nil {
		if s, ok := env.(policyInfoSetter); ok {
			s.SetPolicyInfo(pi.PolicyInfo())
			return
		}
		u, ok := env.(gym.Unwrapper)
		if !ok {
			return
		}
		env = u.Unwrap()
	}
}

// knownPolicy reports whether name is a policy of `gym run --policy`:
// one of policyNames, or checkpoint:DIR with a directory.
func knownPolicy(name string) bool {
	if dir, ok := strings.CutPrefix(name, "checkpoint:"); ok {
		return dir != ""
	}
	return slices.Contains(policyNames(), name)
}

// policyNames lists the policies of `gym run --policy`.
func policyNames() []string {
	return []string{"random", "oracle", "human", "openai", "checkpoint:DIR"}
}

// llmOptions are the flags of `gym run --policy openai`.
type llmOptions struct {
	baseURL     string
	model       string
	apiKeyEnv   string
	temperature float64
	maxTokens   int
	history     int
	timeout     time.Duration
}

func addLLMFlags(cmd *cobra.Command, o *llmOptions) {
	f := cmd.Flags()
	f.StringVar(&o.baseURL, "base-url", "http://127.0.0.1:8000/v1", "--policy openai: API root of an OpenAI-compatible server (POST BASE/chat/completions)")
	f.StringVar(&o.model, "model", "", "--policy openai: model name to request (required)")
	f.StringVar(&o.apiKeyEnv, "api-key-env", llm.DefaultAPIKeyEnv, "--policy openai: environment variable holding the API key (may be unset for local servers)")
	f.Float64Var(&o.temperature, "temperature", 0, "--policy openai: sampling temperature")
	f.IntVar(&o.maxTokens, "max-tokens", 512, "--policy openai: cap on reply tokens (0: the server's default)")
	f.IntVar(&o.history, "history", llm.DefaultHistory, "--policy openai: past (observation, action, status) turns shown in the prompt")
	f.DurationVar(&o.timeout, "llm-timeout", 2*time.Minute, "--policy openai: limit on each HTTP request (failed requests are retried with backoff)")
}

func newPolicy(a *app, o runOptions, env gym.Env) (policy, error) {
	name := o.policy
	if dir, ok := strings.CutPrefix(name, "checkpoint:"); ok {
		// A policy trained by gym train --out DIR (libtorch; see eval.go).
		return newCheckpointPolicy(dir)
	}
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
	case "openai":
		return newLLMPolicy(o.llm, env)
	}
	return nil, fmt.Errorf("--policy %q: want one of %s", name, strings.Join(policyNames(), ", "))
}

func newLLMPolicy(o llmOptions, env gym.Env) (policy, error) {
	if o.model == "" {
		return nil, fmt.Errorf("--policy openai: --model is required: the name the server at %s serves (e.g. --model Qwen/Qwen2.5-7B-Instruct)", o.baseURL)
	}
	if o.history < 0 {
		return nil, fmt.Errorf("--history %d: want 0 (no history) or more", o.history)
	}
	c, err := llm.NewClient(llm.Config{
		BaseURL:     o.baseURL,
		Model:       o.model,
		APIKeyEnv:   o.apiKeyEnv,
		Temperature: o.temperature,
		MaxTokens:   o.maxTokens,
		Timeout:     o.timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("--policy openai: %w", err)
	}
	hist := o.history
	if hist == 0 {
		hist = -1 // llm.Policy reads 0 as its default
	}
	va, _ := gym.Capable[gym.ValidActioner](env)
	return &llm.Policy{LLM: c, Spec: env.Spec(), History: hist, ValidActions: va}, nil
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
