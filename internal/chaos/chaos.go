// Package chaos plays episodes of plugin envs through the real plugin host
// while killing, stopping and OOM-killing the plugin processes at random
// points, and checks the promises the host makes about such failures:
//
//   - the host never crashes: every fault reaches the caller as a step
//     status, not a panic or an error;
//   - every step a fault affected reports CRASHED, TIMEOUT or ENV_ERROR, so
//     trainers never score infrastructure failures as the agent's;
//   - the next reset works (a fresh plugin process where needed);
//   - every episode that ended is intact on disk in its trajectory file.
//
// A fault-free soak phase afterwards samples the plugin's process tree and
// the host every few resets and reports leak slopes per 100 resets.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
	"github.com/envgym/envgym/gym/trajectory"
	"github.com/envgym/envgym/plugins"
)

// Config is one chaos run of one env. Zero fields take the defaults noted.
type Config struct {
	Host     *plugins.Host // required: serves the env
	EnvID    string        // required
	Options  map[string]any
	Dir      string // required: the trajectory file goes here
	Episodes int    // default 100
	Seed     int64
	// FaultRate is the share of episodes that get a fault (at a random
	// step; one that ends first passes it on to the next); default 0.15;
	// negative: none.
	FaultRate float64
	// Faults are drawn from, where they apply to the env; default all.
	Faults []Fault
	// StepTimeout is each step's deadline; default 10s. A stopped plugin
	// costs this plus the host's ping timeout.
	StepTimeout time.Duration
	// ResetTimeout is each reset's deadline; default 5m (a first reset may
	// build an index or launch a browser).
	ResetTimeout time.Duration
	MaxSteps     int // per episode, in case the env sets none; default 500
	// SoakResets is the length of the fault-free leak phase; default
	// Episodes; negative: none.
	SoakResets int
	// SampleEvery is the resets between leak samples; default
	// SoakResets/25 (at least 1).
	SampleEvery int
	Progress    io.Writer // a line every tenth of the run; nil: quiet
}

func (c Config) withDefaults() Config {
	if c.Episodes <= 0 {
		c.Episodes = 100
	}
	if c.FaultRate == 0 {
		c.FaultRate = 0.15
	}
	if len(c.Faults) == 0 {
		c.Faults = AllFaults()
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 10 * time.Second
	}
	if c.ResetTimeout <= 0 {
		c.ResetTimeout = 5 * time.Minute
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = 500
	}
	if c.SoakResets == 0 {
		c.SoakResets = c.Episodes
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = max(1, c.SoakResets/25)
	}
	return c
}

// Report is the outcome for one env. The four figures the suite promises
// are Faults, HostCrashes (0), LostEpisodes (0) and RSSSlope.
type Report struct {
	EnvID     string `json:"env_id"`
	Episodes  int    `json:"episodes"`           // started
	Completed int    `json:"completed_episodes"` // ended, so recorded
	Steps     int    `json:"steps"`

	Faults       int            `json:"faults"` // injected and landed
	FaultsByKind map[string]int `json:"faults_by_kind"`
	// FaultExamples describes the first fault of each kind as it landed.
	FaultExamples map[string]string `json:"fault_examples"`
	// Reported faults: the affected step had an infra status, counted by
	// status in AffectedStatuses. Between-episode faults landed after the
	// episode's last step; the next reset absorbed them.
	Reported         int            `json:"faults_reported"`
	BetweenEpisodes  int            `json:"faults_between_episodes"`
	Unreported       int            `json:"faults_unreported"` // affected step said OK or INVALID_ACTION
	FaultErrors      int            `json:"fault_errors"`      // injections that did not take effect
	AffectedStatuses map[string]int `json:"affected_step_statuses"`
	SpontaneousInfra int            `json:"spontaneous_infra_steps"` // infra statuses without a fault
	HostCrashes      int            `json:"host_crashes"`            // panics, or errors escaping Step
	LostEpisodes     int            `json:"lost_episodes"`           // ended but not intact on disk
	ResetFailures    int            `json:"reset_failures"`
	Unfinished       int            `json:"unfinished_episodes"` // cut at MaxSteps, not recorded
	PluginRestarts   int            `json:"plugin_restarts"`

	// LeakSamples are the soak's measurements, in order (gym chaos
	// --samples writes them as CSV, --plot draws them).
	LeakSamples []LeakSample `json:"-"`
	SoakResets  int          `json:"soak_resets"`
	Samples     int          `json:"leak_samples"`
	// Leak slopes per 100 resets (least squares; plugin figures are
	// fitted within each plugin process).
	RSSSlope            float64 `json:"rss_slope_kib_per_100_resets"` // VmRSS summed over the tree
	PSSSlope            float64 `json:"pss_slope_kib_per_100_resets"` // shared pages counted once
	ThreadsSlope        float64 `json:"threads_slope_per_100_resets"`
	OpenFilesSlope      float64 `json:"open_files_slope_per_100_resets"`
	ChildrenSlope       float64 `json:"children_slope_per_100_resets"`
	HostGoroutinesSlope float64 `json:"host_goroutines_slope_per_100_resets"`
	HostOpenFilesSlope  float64 `json:"host_open_files_slope_per_100_resets"`
	HostRSSSlope        float64 `json:"host_rss_slope_kib_per_100_resets"`
	// Chromium renderer processes (one per live page or context) below
	// the plugin, and Docker containers the plugin owns; absent where not
	// measurable (no browser; no Docker engine).
	BrowserContextsSlope  *float64 `json:"browser_contexts_slope_per_100_resets,omitempty"`
	ContainersSlope       *float64 `json:"containers_slope_per_100_resets,omitempty"`
	PluginRSSKiB          int64    `json:"plugin_rss_kib"` // at the last sample
	PluginPSSKiB          int64    `json:"plugin_pss_kib"`
	PluginChildren        int64    `json:"plugin_children"`
	PluginBrowserContexts int64    `json:"plugin_browser_contexts,omitempty"`
	PluginContainers      int64    `json:"plugin_containers,omitempty"`

	Trajectory string   `json:"trajectory"`
	DurationS  float64  `json:"duration_s"`
	Problems   []string `json:"problems,omitempty"`
}

// OK reports whether the run kept every promise.
func (r Report) OK() bool {
	return r.HostCrashes == 0 && r.LostEpisodes == 0 && r.Unreported == 0 && r.ResetFailures == 0 && r.FaultErrors == 0
}

// maxProblems bounds the problems listed in a report.
const maxProblems = 20

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// runner is the state of one Run.
type runner struct {
	cfg    Config
	rep    Report
	rng    *rand.Rand
	pol    play.Policy // seeded per episode
	plugin *plugins.Plugin
	env    gym.Env
	rec    *trajectory.Recorder
	tasks  []string

	ended   map[string]ended // by episode id: what the loop saw
	last    trajectory.Manifest
	faulty  map[int]bool // episodes scheduled to get a fault
	pending bool         // a fault is due and has not been injected yet
	meanLen float64      // running mean episode length, for where to inject
}

// ended is what the loop saw of an episode that ended.
type ended struct {
	steps int
	final gym.Status
}

// Run plays cfg.Episodes episodes of cfg.EnvID with faults, then the soak
// phase, and verifies the trajectory file. The error is for a run that
// could not start or was interrupted; broken promises are in the Report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	r := &runner{cfg: cfg, ended: map[string]ended{}, meanLen: 5}
	r.rep = Report{EnvID: cfg.EnvID, FaultsByKind: map[string]int{}, FaultExamples: map[string]string{}, AffectedStatuses: map[string]int{}}
	h := fnv.New64a()
	h.Write([]byte(cfg.EnvID))
	r.rng = rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64()))

	p, ok := cfg.Host.Plugin(cfg.EnvID)
	if !ok {
		return r.rep, fmt.Errorf("chaos: %w %q", gym.ErrUnknownEnvID, cfg.EnvID)
	}
	r.plugin = p
	restarts := p.Restarts()
	mctx, cancel := context.WithTimeout(ctx, cfg.ResetTimeout)
	env, err := cfg.Host.Make(mctx, cfg.EnvID, cfg.Options)
	cancel()
	if err != nil {
		return r.rep, fmt.Errorf("chaos: make %s: %w", cfg.EnvID, err)
	}
	defer env.Close()
	for _, t := range env.Spec().Tasks {
		r.tasks = append(r.tasks, t.ID)
	}
	if len(r.tasks) == 0 {
		r.tasks = []string{""}
	}
	path := filepath.Join(cfg.Dir, strings.NewReplacer("/", "_").Replace(cfg.EnvID)+".jsonl")
	w, err := trajectory.Create(path)
	if err != nil {
		return r.rep, fmt.Errorf("chaos: %w", err)
	}
	r.rep.Trajectory = path
	r.env = env
	r.pol = play.Mix(env, 0.5, h.Sum64())
	r.rec = trajectory.Record(env, w, "chaos")
	r.rec.OnEpisode = func(m trajectory.Manifest) { r.last = m }

	// round(FaultRate × Episodes) episodes, drawn at random, get a fault.
	r.faulty = map[int]bool{}
	if cfg.FaultRate > 0 {
		for _, i := range r.rng.Perm(cfg.Episodes)[:min(cfg.Episodes, int(cfg.FaultRate*float64(cfg.Episodes)+0.5))] {
			r.faulty[i] = true
		}
	}
	var runErr error
	for i := 0; i < cfg.Episodes; i++ {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		if err := r.episode(ctx, i); err != nil {
			runErr = err
			break
		}
		if cfg.Progress != nil && (i+1)%max(1, cfg.Episodes/10) == 0 {
			fmt.Fprintf(cfg.Progress, "chaos %s: %d/%d episodes, %d faults, %d host crashes\n", cfg.EnvID, i+1, cfg.Episodes, r.rep.Faults, r.rep.HostCrashes)
		}
	}
	if err := w.Close(); err != nil {
		r.rep.problem("close trajectory: %v", err)
	}
	r.verify(path)
	if runErr == nil && cfg.SoakResets > 0 {
		runErr = r.soak(ctx)
	}
	r.rep.PluginRestarts = p.Restarts() - restarts
	r.rep.DurationS = time.Since(start).Seconds()
	if runErr != nil {
		return r.rep, fmt.Errorf("chaos %s: %w", cfg.EnvID, runErr)
	}
	return r.rep, nil
}

// reset starts an episode, retrying twice: the first failure already
// breaks the promise and is counted.
func (r *runner) reset(ctx context.Context, env gym.Env, opts gym.ResetOptions) (gym.Observation, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, r.cfg.ResetTimeout)
		var obs gym.Observation
		obs, err = env.Reset(rctx, opts)
		cancel()
		if err == nil {
			return obs, nil
		}
		if ctx.Err() != nil {
			return obs, ctx.Err()
		}
		r.rep.ResetFailures++
		r.rep.problem("reset (seed %d, task %q): %v", opts.Seed, opts.TaskID, err)
	}
	return gym.Observation{}, fmt.Errorf("reset failed three times: %w", err)
}

// episode plays one episode. Panics are host crashes, counted and
// survived; the error return stops the run (interrupted, env unusable).
func (r *runner) episode(ctx context.Context, i int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.rep.HostCrashes++
			r.rep.problem("episode %d: panic: %v", i, v)
		}
	}()
	opts := gym.ResetOptions{Seed: r.cfg.Seed + int64(i), TaskID: r.tasks[i%len(r.tasks)]}
	obs, err := r.reset(ctx, r.rec, opts)
	if err != nil {
		return err
	}
	r.pol.Begin(opts.Seed)
	r.rep.Episodes++
	if r.faulty[i] {
		r.pending = true // an earlier one still pending is simply due now
	}
	faultAt := -1
	if r.pending {
		faultAt = r.rng.IntN(max(1, int(r.meanLen)))
	}
	var (
		expect     bool  // a fault landed: the next step must report it
		expectKind Fault // which
		lastAction string
	)
	for step := 0; ; step++ {
		if step >= r.cfg.MaxSteps {
			r.rep.Unfinished++
			r.rep.problem("episode %d: not over after %d steps", i, step)
			return nil
		}
		action := lastAction
		if !expect || action == "" {
			// Choose before any fault: the policy's own calls must not be
			// the ones that meet it.
			if action, err = r.act(ctx, obs); err != nil {
				r.rep.Unfinished++
				r.rep.problem("episode %d step %d: policy: %v", i, step, err)
				return nil
			}
		}
		lastAction = action
		var during chan error
		var kind Fault
		if step == faultAt {
			kind = r.pickFault()
			if kind == Kill && r.rng.IntN(2) == 0 {
				// Kill while the step is in flight (or just after it).
				during = make(chan error, 1)
				delay := time.Duration(r.rng.Int64N(int64(2 * time.Millisecond)))
				go func() {
					time.Sleep(delay)
					during <- r.inject(kind)
				}()
			} else if err := r.inject(kind); err == nil {
				expect, expectKind = true, kind
			}
		}
		sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
		res, err := r.rec.Step(sctx, action)
		cancel()
		landed := during != nil && <-during == nil
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.rep.HostCrashes++
			r.rep.problem("episode %d step %d: Step returned an error instead of a status: %v", i, step, err)
			return nil
		}
		r.rep.Steps++
		switch {
		case landed && res.Status.Infra():
			r.rep.Reported++
			r.rep.AffectedStatuses[res.Status.String()]++
		case landed && res.Done():
			r.rep.BetweenEpisodes++ // the kill came after the last step: the next reset meets it
		case landed:
			expect, expectKind = true, kind // the step finished first: the next one meets it
		case expect && res.Status.Infra():
			r.rep.Reported++
			r.rep.AffectedStatuses[res.Status.String()]++
			expect = false
		case expect:
			r.rep.Unreported++
			r.rep.problem("episode %d step %d: %s fault, step said %s: %.200q", i, step, expectKind, res.Status, res.Observation.Text)
			expect = false
		case res.Status.Infra() && during == nil:
			r.rep.SpontaneousInfra++
			r.rep.problem("episode %d step %d: %s without a fault: %.200q", i, step, res.Status, res.Observation.Text)
		}
		if res.Done() {
			r.episodeEnded(step+1, res)
			return nil
		}
		obs = res.Observation
	}
}

// episodeEnded notes an episode the recorder must have written.
func (r *runner) episodeEnded(steps int, final gym.StepResult) {
	r.rep.Completed++
	r.meanLen += (float64(steps) - r.meanLen) / float64(min(r.rep.Completed, 50))
	if r.last.EpisodeID == "" {
		r.rep.LostEpisodes++
		r.rep.problem("an episode of %d steps ended but the recorder wrote no manifest", steps)
		return
	}
	r.ended[r.last.EpisodeID] = ended{steps: steps, final: final.Status}
	r.last = trajectory.Manifest{}
}

// pickFault draws a fault among those that apply to the plugin now.
func (r *runner) pickFault() Fault {
	pid := r.plugin.PID()
	var ok []Fault
	for _, f := range r.cfg.Faults {
		if applicable(f, pid) {
			ok = append(ok, f)
		}
	}
	if len(ok) == 0 {
		return Kill
	}
	return ok[r.rng.IntN(len(ok))]
}

// inject applies f to the plugin and books it.
func (r *runner) inject(f Fault) error {
	r.pending = false
	detail, err := inject(f, r.plugin.PID())
	if err != nil {
		if !errors.Is(err, errNotApplicable) {
			r.rep.FaultErrors++
			r.rep.problem("inject %s: %v", f, err)
		}
		return err
	}
	r.rep.Faults++
	r.rep.FaultsByKind[string(f)]++
	if _, seen := r.rep.FaultExamples[string(f)]; !seen {
		r.rep.FaultExamples[string(f)] = detail
	}
	return nil
}

// act chooses the next action with play.Mix: the env's oracle half the
// time where it has one, a random valid action otherwise.
func (r *runner) act(ctx context.Context, obs gym.Observation) (string, error) {
	return r.pol.Act(ctx, obs)
}

// verify reads the trajectory back: every episode the loop saw end must
// have one manifest and exactly its steps, numbered, parsable, with the
// final status the loop saw.
func (r *runner) verify(path string) {
	steps, err := trajectory.ReadSteps(path)
	if err != nil {
		r.rep.LostEpisodes += len(r.ended)
		r.rep.problem("read steps: %v", err)
		return
	}
	ms, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		r.rep.LostEpisodes += len(r.ended)
		r.rep.problem("read manifests: %v", err)
		return
	}
	byEp := map[string][]trajectory.Step{}
	for _, s := range steps {
		byEp[s.EpisodeID] = append(byEp[s.EpisodeID], s)
	}
	manifests := map[string]int{}
	byID := map[string]trajectory.Manifest{}
	for _, m := range ms {
		manifests[m.EpisodeID]++
		byID[m.EpisodeID] = m
	}
	for id, e := range r.ended {
		m, ok := byID[id]
		got := byEp[id]
		why := ""
		switch {
		case !ok:
			why = "no manifest"
		case manifests[id] != 1:
			why = fmt.Sprintf("%d manifests", manifests[id])
		case m.Steps != e.steps || len(got) != e.steps:
			why = fmt.Sprintf("played %d steps, manifest says %d, file has %d", e.steps, m.Steps, len(got))
		case m.FinalStatus != e.final || got[len(got)-1].Status != e.final:
			why = fmt.Sprintf("final status %s, manifest %s", e.final, m.FinalStatus)
		}
		for i, s := range got {
			if why == "" && s.Step != i {
				why = fmt.Sprintf("line %d is step %d", i, s.Step)
			}
		}
		if why != "" {
			r.rep.LostEpisodes++
			r.rep.problem("episode %s: %s", id, why)
		}
	}
	if extra := len(manifests) - len(r.ended); extra > 0 {
		r.rep.problem("%d manifests for episodes the loop did not see end", extra)
	}
}
