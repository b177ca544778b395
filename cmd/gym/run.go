package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/serve"
)

// runOptions are the flags of `gym run`.
type runOptions struct {
	task        string
	policy      string
	episodes    int
	seed        int64
	out         string
	screenshots bool
	maxSteps    int
	remote      string
	options     string     // --options: the env's make-time options as a JSON object
	resetOpt    string     // --reset-options: every episode's reset options as a JSON object
	llm         llmOptions // --policy openai
}

// fallbackMaxSteps caps episodes of envs that declare no step limit.
const fallbackMaxSteps = 1000

// runSummary is what `gym run --json` prints.
type runSummary struct {
	EnvID         string         `json:"env_id"`
	Policy        string         `json:"policy"`
	Episodes      int            `json:"episodes"`
	SuccessRate   float64        `json:"success_rate"`
	MeanReward    float64        `json:"mean_reward"`
	MeanSteps     float64        `json:"mean_steps"`
	StatusCounts  map[string]int `json:"status_counts"`
	InfraFailures int            `json:"infra_failures"`
	Out           string         `json:"out"`
}

func newRunCmd(a *app) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run ENV_ID",
		Short: "Play episodes of an env with a policy; summarise and optionally record them",
		Long: `Run plays --episodes episodes of ENV_ID through its plugin with a policy:

  random  a uniform choice among the observation's valid actions, seeded by
          the episode seed (the env must list valid actions)
  oracle  the env's scripted solver (the env must implement gym.Oracle)
  human   you: the observation and numbered valid actions are printed, and
          you type a number or any action text
  openai  an LLM behind any OpenAI-compatible chat-completions endpoint
          (OpenAI, vLLM, llama.cpp, Ollama...): --base-url (default
          http://127.0.0.1:8000/v1), --model (required), the API key from the
          variable named by --api-key-env (default OPENAI_API_KEY; may be
          unset for local servers), --temperature, --max-tokens. The prompt
          has a system message describing the env (its spec's description,
          observation and action spaces), the last --history turns
          (observation, action, status), the current observation and the
          numbered valid actions; the reply's "Action: ..." line, fenced
          block, number or quoted valid action is the action, and an
          unreadable reply is sent as it is (the env answers INVALID_ACTION).
          429s, 5xx and connection errors are retried with backoff.

Episode i uses seed --seed+i. Without --task, episodes cycle over the env's
tasks in order, so --episodes equal to (a multiple of) the number of tasks
covers every task. Episodes end when the env terminates or truncates them,
or after --max-steps steps (default: the env's MaxSteps, or 1000 when it
declares none).

With --out FILE.jsonl every step is written as one JSON line to FILE.jsonl
and one manifest line per episode (env id and version, task, seed, policy,
plugin sha256, return, success, status counts) to FILE.manifest.jsonl;
both read directly with pandas.read_json(path, lines=True). With --policy
openai each step also has policy_info (prompt_tokens, completion_tokens,
total_tokens, latency_ms, attempts, the raw reply, how it was parsed) and
each manifest the episode's prompt_tokens and completion_tokens. With
--screenshots the PNG of every observation goes to FILE.screenshots/ (envs
that render one: web, gui). Look at a recorded run with gym view FILE.jsonl.

The summary gives episodes, success_rate, mean_reward (mean episode
return), mean_steps, status_counts (steps per status over all episodes)
and infra_failures: episodes that ended CRASHED, TIMEOUT or ENV_ERROR.
Those are the infrastructure's fault, not the policy's: they are excluded
from success_rate, mean_reward and mean_steps (whose denominator is
episodes - infra_failures), and only counted. With --json, stdout is one
JSON object with keys env_id, policy, episodes, success_rate, mean_reward,
mean_steps, status_counts, infra_failures, out.`,
		Example: `  # solve every task of the maze twice, recording the trajectories
  gym run text/maze-v0 --policy oracle --episodes 6 --out runs/maze.jsonl

  # a random baseline on one task, summary as JSON
  gym run text/corridor-v0 --task hard --policy random --episodes 100 --json

  # play it yourself
  gym run text/maze-v0 --task easy --policy human

  # env options: the SWE env in Docker containers instead of namespaces
  gym run swe/gomut-v0 --policy oracle --episodes 4 --options '{"sandbox":"docker"}'

  # an LLM served by vLLM on this machine, token usage recorded per step
  gym run text/maze-v0 --policy openai --model Qwen/Qwen2.5-7B-Instruct --out runs/llm.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEpisodes(cmd.Context(), a, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.task, "task", "", "task id (default: cycle over all tasks of the env)")
	f.StringVar(&o.policy, "policy", "random", "policy: "+strings.Join(policyNames(), ", "))
	f.IntVar(&o.episodes, "episodes", 1, "number of episodes")
	f.Int64Var(&o.seed, "seed", 0, "seed of the first episode; episode i uses seed+i")
	f.StringVar(&o.out, "out", "", "record steps to FILE.jsonl and episode manifests to FILE.manifest.jsonl")
	f.BoolVar(&o.screenshots, "screenshots", false, "with --out: save the PNG of every observation in FILE.screenshots/ (envs that render: web, gui), named in the step lines, for gym view")
	f.IntVar(&o.maxSteps, "max-steps", 0, "truncate episodes after this many steps (0: the env's limit)")
	f.StringVar(&o.remote, "remote", "", "play on `gym serve` stream servers (host:port,host:port,…; token from GYM_SERVE_TOKEN) instead of local plugins")
	f.StringVar(&o.options, "options", "", "the env's options when it is made, a JSON object (each env's README lists them), e.g. '{\"sandbox\":\"docker\"}'")
	f.StringVar(&o.resetOpt, "reset-options", "", "options of every episode's reset, a JSON object (each env's README lists them), e.g. '{\"question_id\":\"q17\"}'")
	addLLMFlags(cmd, &o.llm)
	return cmd
}

func runEpisodes(ctx context.Context, a *app, id string, o runOptions) error {
	if o.episodes < 1 {
		return fmt.Errorf("--episodes %d: want at least 1", o.episodes)
	}
	if !knownPolicy(o.policy) {
		return fmt.Errorf("--policy %q: want one of %s", o.policy, strings.Join(policyNames(), ", "))
	}
	if o.maxSteps < 0 {
		return fmt.Errorf("--max-steps %d: want 0 (the env's limit) or more", o.maxSteps)
	}
	var envOpts map[string]any
	if o.options != "" {
		if err := json.Unmarshal([]byte(o.options), &envOpts); err != nil {
			return fmt.Errorf("--options: want a JSON object such as '{\"sandbox\":\"docker\"}': %w", err)
		}
	}
	var resetOpts map[string]any
	if o.resetOpt != "" {
		if err := json.Unmarshal([]byte(o.resetOpt), &resetOpts); err != nil {
			return fmt.Errorf("--reset-options: want a JSON object such as '{\"question_id\":\"q17\"}': %w", err)
		}
	}
	var env gym.Env
	if o.remote != "" {
		pool := serve.NewPool(strings.Split(o.remote, ","), serve.PoolOptions{Token: os.Getenv("GYM_SERVE_TOKEN")})
		renv, err := pool.Make(ctx, id, envOpts)
		if err != nil {
			return fmt.Errorf("--remote: %w", err)
		}
		env = renv
	} else {
		reg := gym.NewRegistry()
		defer a.hostEnvs(reg).Close()
		lenv, err := reg.Make(ctx, id, envOpts)
		if err != nil {
			return fmt.Errorf("%w (envs come from the plugins in %s; see `gym list`)", err, a.pluginDir)
		}
		env = lenv
	}
	defer env.Close()
	spec := env.Spec()
	tasks, err := pickTasks(spec, o.task)
	if err != nil {
		return err
	}
	limit := o.maxSteps
	if limit == 0 && spec.MaxSteps == 0 {
		limit = fallbackMaxSteps
	}
	env = gym.WithTimeLimit(env, limit)
	var out *trajectory.Writer
	var rec *trajectory.Recorder
	if o.screenshots && o.out == "" {
		return errors.New("--screenshots saves PNGs beside the trajectory: give --out FILE.jsonl too")
	}
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if out, err = trajectory.Create(o.out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		rec = trajectory.Record(env, out, o.policy)
		rec.Screenshots = o.screenshots
		env = rec
	}
	pol, err := newPolicy(a, o, env)
	if err != nil {
		if out != nil {
			_ = out.Close()
		}
		return err
	}

	var bar *progressbar.ProgressBar
	if o.policy != "human" && a.stderrIsTerminal() {
		bar = progressbar.NewOptions(o.episodes,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(id),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100_000_000), // 100ms
		)
	}

	sum := runSummary{EnvID: id, Policy: o.policy, StatusCounts: map[string]int{}, Out: o.out}
	var eps []play.Stats
	var runErr error
	for i := 0; i < o.episodes; i++ {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		seed := o.seed + int64(i)
		task := tasks[i%len(tasks)]
		popts := play.Options{Reset: gym.ResetOptions{Seed: seed, TaskID: task, Options: resetOpts}}
		if rec != nil {
			popts.Record = rec
		}
		ep, err := play.Episode(ctx, env, pol, popts)
		for k, n := range ep.StatusCounts {
			sum.StatusCounts[k] += n
		}
		if err != nil {
			runErr = fmt.Errorf("episode %d (seed %d, task %q): %w", i, seed, task, err)
			break
		}
		eps = append(eps, ep)
		if bar != nil {
			succ, _ := rates(eps)
			bar.Describe(fmt.Sprintf("%s success %.0f%%", id, 100*succ))
			_ = bar.Add(1)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if out != nil {
		if err := out.Close(); err != nil && runErr == nil {
			runErr = fmt.Errorf("--out: %w", err)
		}
	}
	summarise(&sum, eps)
	if runErr != nil && len(eps) == 0 {
		return runErr
	}
	if err := printSummary(a, sum); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("stopped after %d of %d episodes: %w", len(eps), o.episodes, runErr)
	}
	return nil
}

// pickTasks returns the tasks to cycle over: the one asked for, or all
// of the spec's ("" when the env has none).
func pickTasks(spec gym.Spec, task string) ([]string, error) {
	ids := make([]string, len(spec.Tasks))
	for i, t := range spec.Tasks {
		ids[i] = t.ID
	}
	switch {
	case task == "" && len(ids) == 0:
		return []string{""}, nil
	case task == "":
		return ids, nil
	case len(ids) > 0 && !slices.Contains(ids, task):
		return nil, fmt.Errorf("--task %q: %w of %s; did you mean %s? (tasks: %s)",
			task, gym.ErrUnknownTask, spec.ID, strings.Join(gym.Nearest(task, ids, 1), ""), strings.Join(ids, ", "))
	}
	return []string{task}, nil
}

// rates returns the success rate and the number of episodes it is over
// (infrastructure failures excluded).
func rates(eps []play.Stats) (float64, int) {
	n, succ := 0, 0
	for _, e := range eps {
		if e.Infra {
			continue
		}
		n++
		if e.Success {
			succ++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(succ) / float64(n), n
}

func summarise(s *runSummary, eps []play.Stats) {
	s.Episodes = len(eps)
	var ret, steps float64
	for _, e := range eps {
		if e.Infra {
			s.InfraFailures++
			continue
		}
		ret += e.Return
		steps += float64(e.Steps)
	}
	var n int
	s.SuccessRate, n = rates(eps)
	if n > 0 {
		s.MeanReward, s.MeanSteps = ret/float64(n), steps/float64(n)
	}
}

func printSummary(a *app, s runSummary) error {
	if a.json {
		return a.writeJSON(s)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "env\t%s\n", s.EnvID)
	fmt.Fprintf(tw, "policy\t%s\n", s.Policy)
	fmt.Fprintf(tw, "episodes\t%d\n", s.Episodes)
	if s.InfraFailures > 0 {
		// On the same line: a rate over 1 of 6 episodes must not read as over 6.
		fmt.Fprintf(tw, "success rate\t%.3f over %d of %d episodes (%d infrastructure failures excluded)\n", s.SuccessRate, s.Episodes-s.InfraFailures, s.Episodes, s.InfraFailures)
	} else {
		fmt.Fprintf(tw, "success rate\t%.3f\n", s.SuccessRate)
	}
	fmt.Fprintf(tw, "mean reward\t%.3f\n", s.MeanReward)
	fmt.Fprintf(tw, "mean steps\t%.1f\n", s.MeanSteps)
	names := make([]string, 0, len(s.StatusCounts))
	for k := range s.StatusCounts {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%d", k, s.StatusCounts[k])
	}
	fmt.Fprintf(tw, "step statuses\t%s\n", strings.Join(parts, " "))
	fmt.Fprintf(tw, "infra failures\t%d (excluded from the rates above)\n", s.InfraFailures)
	if s.Out != "" {
		fmt.Fprintf(tw, "trajectories\t%s, %s\n", s.Out, trajectory.ManifestPath(s.Out))
	}
	return tw.Flush()
}
