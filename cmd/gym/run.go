package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	dns         string     // --dns: the DNS server that resolves --remote names
	envs        int        // --envs: envs played at once
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
	// Envs is --envs; Replicas the pool's per-replica figures (--remote).
	Envs     int                  `json:"envs"`
	Replicas []serve.ReplicaStats `json:"replicas,omitempty"`
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
mean_steps, status_counts, infra_failures, out, envs and, with --remote,
replicas.

With --envs N, N envs are made and played at once, each taking the next
episode when it finishes one; episode i keeps seed --seed+i and its task,
so the episodes are the same as with one env (their order on disk is not).

With --remote, episodes are played on gym serve stream servers. A host that
is a name stands for every IP it resolves to, one replica each: Docker
Swarm's tasks.SERVICE, a Kubernetes headless Service. Names are resolved
again every few seconds and after a failure. Envs go to the live replica
with the fewest envs; a replica that dies ends the steps in flight as
CRASHED (counted in infra_failures, never lost) and its envs are made again
on live replicas at their next reset, which also moves envs onto new
replicas. The summary ends with a table per replica (with --json, the key
replicas: a list of {addr, envs, live_envs, episodes, steps, steps_per_s,
failures (steps by infrastructure status), connect_failures, resolved}),
and each manifest of --out names its replica.`,
		Example: `  # solve every task of the maze twice, recording the trajectories
  gym run text/maze-v0 --policy oracle --episodes 6 --out runs/maze.jsonl

  # a random baseline on one task, summary as JSON
  gym run text/corridor-v0 --task hard --policy random --episodes 100 --json

  # play it yourself
  gym run text/maze-v0 --task easy --policy human

  # env options: the SWE env in Docker containers instead of namespaces
  gym run swe/gomut-v0 --policy oracle --episodes 4 --options '{"sandbox":"docker"}'

  # an LLM served by vLLM on this machine, token usage recorded per step
  gym run text/maze-v0 --policy openai --model Qwen/Qwen2.5-7B-Instruct --out runs/llm.jsonl

  # 32 envs at once over every replica of a Swarm service, per-replica table at the end
  GYM_SERVE_TOKEN=... gym run web/shop-v0 --remote tasks.envgym_web:8081 --envs 32 --episodes 300 --out runs/shop.jsonl`,
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
	f.StringVar(&o.remote, "remote", "", "play on `gym serve` stream servers (host:port,…; a name means every IP it resolves to, e.g. tasks.SERVICE:8081; token from GYM_SERVE_TOKEN) instead of local plugins")
	f.StringVar(&o.dns, "dns", "", "with --remote: resolve names with this DNS server (host:port, e.g. 127.0.0.11:53) instead of the system's")
	f.IntVar(&o.envs, "envs", 1, "envs played at once (each on the least loaded replica with --remote)")
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
	if o.envs < 1 {
		return fmt.Errorf("--envs %d: want at least 1", o.envs)
	}
	if o.envs > 1 && o.policy == "human" {
		return fmt.Errorf("--envs %d: --policy human plays one env at a time; drop --envs", o.envs)
	}
	if o.dns != "" && o.remote == "" {
		return errors.New("--dns resolves the names of --remote: give --remote too")
	}
	if o.screenshots && o.out == "" {
		return errors.New("--screenshots saves PNGs beside the trajectory: give --out FILE.jsonl too")
	}
	var makeEnv func(context.Context) (gym.Env, error)
	var pool *serve.Pool
	if o.remote != "" {
		popts := serve.PoolOptions{Token: os.Getenv("GYM_SERVE_TOKEN")}
		if o.dns != "" {
			r, err := serve.ResolverAt(o.dns)
			if err != nil {
				return fmt.Errorf("--dns: %w", err)
			}
			popts.Resolver = r
		}
		pool = serve.NewPool(strings.Split(o.remote, ","), popts)
		makeEnv = func(ctx context.Context) (gym.Env, error) {
			e, err := pool.Make(ctx, id, envOpts)
			if err != nil {
				return nil, fmt.Errorf("--remote: %w", err)
			}
			return e, nil
		}
	} else {
		reg := gym.NewRegistry()
		defer a.hostEnvs(reg).Close()
		makeEnv = func(ctx context.Context) (gym.Env, error) {
			e, err := reg.Make(ctx, id, envOpts)
			if err != nil {
				return nil, fmt.Errorf("%w (envs come from the plugins in %s; see `gym list`)", err, a.pluginDir)
			}
			return e, nil
		}
	}
	var out *trajectory.Writer
	defer func() {
		if out != nil {
			_ = out.Close() // an early return
		}
	}()
	var tasks []string
	players := make([]*player, 0, o.envs)
	defer func() {
		for _, p := range players {
			p.env.Close()
		}
	}()
	for i := range o.envs {
		env, err := makeEnv(ctx)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("env %d of --envs %d: %w", i+1, o.envs, err)
			}
			return err
		}
		spec := env.Spec()
		if i == 0 {
			if tasks, err = pickTasks(spec, o.task); err != nil {
				env.Close()
				return err
			}
			if o.out != "" {
				if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
					env.Close()
					return fmt.Errorf("--out: %w", err)
				}
				if out, err = trajectory.Create(o.out); err != nil {
					env.Close()
					return fmt.Errorf("--out: %w", err)
				}
			}
		}
		limit := o.maxSteps
		if limit == 0 && spec.MaxSteps == 0 {
			limit = fallbackMaxSteps
		}
		p := &player{env: env}
		players = append(players, p)
		played := gym.WithTimeLimit(env, limit)
		if out != nil {
			p.rec = trajectory.Record(played, out, o.policy)
			p.rec.Screenshots = o.screenshots
			played = p.rec
		}
		p.played = played
		if p.pol, err = newPolicy(a, o, played); err != nil {
			return err
		}
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

	sum := runSummary{EnvID: id, Policy: o.policy, StatusCounts: map[string]int{}, Out: o.out, Envs: o.envs}
	results := make([]*play.Stats, o.episodes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		next   int
		runErr error
		wg     sync.WaitGroup
	)
	// Each env takes the next episode when it is free; the first error
	// stops them all.
	for _, p := range players {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= o.episodes || runErr != nil
				mu.Unlock()
				if stop {
					return
				}
				seed := o.seed + int64(i)
				task := tasks[i%len(tasks)]
				err := ctx.Err()
				var ep play.Stats
				if err == nil {
					popts := play.Options{Reset: gym.ResetOptions{Seed: seed, TaskID: task, Options: resetOpts}}
					if p.rec != nil {
						popts.Record = p.rec
					}
					ep, err = play.Episode(ctx, p.played, p.pol, popts)
				}
				mu.Lock()
				for k, n := range ep.StatusCounts {
					sum.StatusCounts[k] += n
				}
				if err != nil {
					if runErr == nil {
						runErr = fmt.Errorf("episode %d (seed %d, task %q): %w", i, seed, task, err)
						cancel()
					}
					mu.Unlock()
					return
				}
				results[i] = &ep
				if bar != nil {
					done := collect(results)
					succ, _ := rates(done)
					bar.Describe(fmt.Sprintf("%s success %.0f%%", id, 100*succ))
					_ = bar.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if bar != nil {
		_ = bar.Finish()
	}
	for _, p := range players {
		p.env.Close()
	}
	players = nil
	if out != nil {
		err := out.Close()
		out = nil
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("--out: %w", err)
		}
	}
	eps := collect(results)
	summarise(&sum, eps)
	if pool != nil {
		sum.Replicas = pool.Stats()
	}
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

// player is one of the --envs envs: the env as made, as played (time
// limit, recorder) and its policy.
type player struct {
	env    gym.Env
	played gym.Env
	rec    *trajectory.Recorder
	pol    policy
}

// collect returns the finished episodes in episode order.
func collect(results []*play.Stats) []play.Stats {
	var eps []play.Stats
	for _, r := range results {
		if r != nil {
			eps = append(eps, *r)
		}
	}
	return eps
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
	if err := tw.Flush(); err != nil || len(s.Replicas) == 0 {
		return err
	}
	return printReplicas(a.stdout, s.Replicas)
}

// printReplicas is the per-replica table of a run on a pool.
func printReplicas(w io.Writer, rs []serve.ReplicaStats) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "replica\tenvs\tepisodes\tsteps\tsteps/s\tfailures\tin DNS")
	for _, r := range rs {
		fails := make([]string, 0, len(r.Failures)+1)
		for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
			fails = append(fails, fmt.Sprintf("%s=%d", k, r.Failures[k]))
		}
		if r.ConnectFailures > 0 {
			fails = append(fails, fmt.Sprintf("connect=%d", r.ConnectFailures))
		}
		if len(fails) == 0 {
			fails = append(fails, "-")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t%v\n", r.Addr, r.Envs, r.Episodes, r.Steps, r.StepsPerS, strings.Join(fails, " "), r.Resolved)
	}
	return tw.Flush()
}
