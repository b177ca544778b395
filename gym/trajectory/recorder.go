package trajectory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/envgym/envgym/gym"
)

// Recorder is a gym wrapper that writes every episode it sees to a Writer
// when the episode ends. Episodes that never end (the caller stopped) are
// not written: a manifest always describes a whole episode.
type Recorder struct {
	gym.Wrapper
	w      *Writer
	policy string

	spec      gym.Spec
	opts      gym.ResetOptions
	last      gym.Observation
	steps     []Step
	m         Manifest
	active    bool
	info      map[string]any // for the next step, from SetPolicyInfo
	lastShot  string         // the saved screenshot of last, when Screenshots
	OnEpisode func(Manifest) // optional: called after each episode is written
	// Screenshots saves the PNG of every observation (the observation's
	// own, else the env's Screenshotter) beside the steps file, in
	// FILE.screenshots/, and names it in the step lines. Envs that render
	// nothing record no path.
	Screenshots bool
}

// Record wraps env so its episodes go to w, labelled with policy.
func Record(env gym.Env, w *Writer, policy string) *Recorder {
	return &Recorder{Wrapper: gym.Wrapper{Env: env}, w: w, policy: policy}
}

func (r *Recorder) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	obs, err := r.Env.Reset(ctx, opts)
	if err != nil {
		r.active = false
		return obs, err
	}
	r.spec = r.Env.Spec()
	if id, ok := obs.Info[gym.InfoTaskID].(string); ok && opts.TaskID == "" {
		opts.TaskID = id // the env chose the task (by seed)
	}
	r.opts, r.last, r.steps, r.active = opts, obs, r.steps[:0], true
	r.m = Manifest{
		EpisodeID:    newID(),
		EnvID:        r.spec.ID,
		EnvVersion:   r.spec.Version,
		TaskID:       opts.TaskID,
		Seed:         opts.Seed,
		Policy:       r.policy,
		PluginSHA256: r.spec.Components["plugin_sha256"],
		Components:   r.spec.Components,
		Start:        time.Now().UTC(),
		StatusCounts: map[string]int{},
	}
	if s, ok := gym.Capable[Served](r.Env); ok {
		r.m.Replica = s.Server()
	}
	r.lastShot = r.saveScreenshot(ctx, obs, 0)
	return obs, nil
}

// SetPolicyInfo attaches info to the next step recorded (as its
// policy_info), e.g. the token usage of the LLM call that chose the
// action; call it between the policy's choice and Step. A Step that
// records nothing (an error, no episode under way) drops it. Integer
// "prompt_tokens" and "completion_tokens" are also totalled in the
// episode's manifest.
func (r *Recorder) SetPolicyInfo(info map[string]any) { r.info = info }

func (r *Recorder) Step(ctx context.Context, action string) (gym.StepResult, error) {
	start := time.Now()
	info := r.info
	r.info = nil
	res, err := r.Env.Step(ctx, action)
	if err != nil || !r.active {
		return res, err
	}
	r.steps = append(r.steps, Step{
		EpisodeID:    r.m.EpisodeID,
		EnvID:        r.m.EnvID,
		TaskID:       r.m.TaskID,
		Seed:         r.m.Seed,
		Step:         len(r.steps),
		Obs:          r.last.Text,
		ValidActions: r.last.ValidActions,
		Action:       action,
		NextObs:      res.Observation.Text,
		Reward:       res.Reward,
		Status:       res.Status,
		Grounded:     res.Grounded(),
		Terminated:   res.Terminated,
		Truncated:    res.Truncated,
		StepMS:       float64(time.Since(start).Microseconds()) / 1000,
		Info:         res.Observation.Info,
		PolicyInfo:   info,
		Screenshot:   r.lastShot,
	})
	r.lastShot = r.saveScreenshot(ctx, res.Observation, len(r.steps))
	r.m.PromptTokens += intOf(info["prompt_tokens"])
	r.m.CompletionTokens += intOf(info["completion_tokens"])
	r.last = res.Observation
	r.m.Return += res.Reward
	r.m.StatusCounts[res.Status.String()]++
	if res.Done() {
		r.active = false
		r.m.End = time.Now().UTC()
		r.m.Steps = len(r.steps)
		r.m.Terminated, r.m.Truncated = res.Terminated, res.Truncated
		r.m.FinalStatus = res.Status
		r.steps[len(r.steps)-1].NextScreenshot = r.lastShot
		r.m.Success = res.Success()
		if err := r.w.WriteEpisode(r.steps, r.m); err != nil {
			return res, err
		}
		if r.OnEpisode != nil {
			r.OnEpisode(r.m)
		}
	}
	return res, nil
}

// saveScreenshot writes the PNG of obs (the n-th of the episode) and
// returns its path relative to the steps file's folder; "" when
// screenshots are off or the env renders none. A failed capture is not
// the episode's failure: the step line just has no screenshot.
func (r *Recorder) saveScreenshot(ctx context.Context, obs gym.Observation, n int) string {
	if !r.Screenshots || r.w.Path() == "" {
		return ""
	}
	png := obs.Screenshot
	if len(png) == 0 {
		s, ok := gym.Capable[gym.Screenshotter](r.Env)
		if !ok {
			return ""
		}
		var err error
		if png, err = s.Screenshot(ctx); err != nil || len(png) == 0 {
			return ""
		}
	}
	rel := filepath.Join(filepath.Base(ScreenshotDir(r.w.Path())), fmt.Sprintf("%s-%04d.png", r.m.EpisodeID, n))
	abs := filepath.Join(filepath.Dir(r.w.Path()), rel)
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return ""
	}
	if err := os.WriteFile(abs, png, 0o644); err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// ScreenshotDir is where a Recorder with Screenshots saves the PNGs of
// the steps file path.
func ScreenshotDir(stepsPath string) string {
	return strings.TrimSuffix(stepsPath, ".jsonl") + ".screenshots"
}

// intOf reads an integer count; anything else counts 0.
func intOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		if n == float64(int(n)) {
			return int(n)
		}
	}
	return 0
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Result is the step's outcome as the env returned it (the observation
// text and info, no screenshot), so recorded steps are judged by the same
// rules as live ones: s.Result().Success().
func (s Step) Result() gym.StepResult {
	return gym.StepResult{
		Observation: gym.Observation{Text: s.NextObs, Info: s.Info},
		Reward:      s.Reward, Terminated: s.Terminated, Truncated: s.Truncated, Status: s.Status,
	}
}

// Success is gym.StepResult.Success, kept for callers written before the
// rule moved to gym.
//
// Deprecated: call final.Success(), or step.Result().Success().
func Success(final gym.StepResult) bool { return final.Success() }
