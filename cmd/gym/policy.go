package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/llm"
)

// policy chooses actions for `gym run`.
type policy = play.Policy

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
		return play.Random(env), nil
	case "oracle":
		p, err := play.Oracle(env)
		if err != nil {
			if o.remote != "" {
				return nil, fmt.Errorf("--policy oracle: %w; through --remote the servers hand out oracle actions only when started with gym serve --oracle", err)
			}
			return nil, fmt.Errorf("--policy oracle: %w; try --policy random or human", err)
		}
		return p, nil
	case "human":
		return play.Human(a.stdin, a.stdout), nil
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
