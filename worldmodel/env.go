package worldmodel

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/envgym/envgym/gym"
)

// Modes of a dream env (option "mode").
const (
	modeDream  = "dream"  // every step is predicted
	modeMixed  = "mixed"  // option real_fraction of the episodes run in the real env
	modeShadow = "shadow" // the real env runs; the model predicts beside it
)

// maxActionBytes bounds the actions that are read at all.
const maxActionBytes = 1000

// DreamID is the id of the dream env of real id: "text/maze-v0" dreams as
// "dream/text.maze-v0" (gym ids have one slash).
func DreamID(realID string) string { return "dream/" + strings.Replace(realID, "/", ".", 1) }

// ErrNoRealEnv: a mode that needs the real env was asked for without a
// registry that makes it.
var ErrNoRealEnv = errors.New("worldmodel: mode needs the real env, and no registry makes it")

// Register loads the model of each directory and adds its dream id to reg.
// realReg makes the real envs for the mixed and shadow modes (nil: only
// pure dreams). Options of the ids: "mode" ("dream", "mixed", "shadow")
// and "real_fraction" (mixed: the fraction of episodes, chosen per reset
// from the seed, played in the real env).
func Register(reg, realReg *gym.Registry, modelDirs ...string) error {
	for _, dir := range modelDirs {
		m, err := LoadModel(dir)
		if err != nil {
			return err
		}
		if err := RegisterModel(reg, realReg, m); err != nil {
			return err
		}
	}
	return nil
}

// RegisterModel adds the dream id of a loaded model to reg.
func RegisterModel(reg, realReg *gym.Registry, m *Model) error {
	return RegisterCurriculum(reg, realReg, m, nil)
}

// RegisterCurriculum adds the dream id of m to reg; every env it makes
// draws its dream episodes' start states from cur (see Curriculum) and
// reports their returns to it. nil cur: starts by seed, as RegisterModel.
func RegisterCurriculum(reg, realReg *gym.Registry, m *Model, cur *Curriculum) error {
	spec := dreamSpec(m)
	err := reg.Register(spec, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		e, err := New(ctx, m, realReg, opts)
		if e != nil {
			e.cur = cur
		}
		return e, err
	})
	if err != nil {
		return fmt.Errorf("worldmodel: %w", err)
	}
	return nil
}

func dreamSpec(m *Model) gym.Spec {
	real := m.Meta.Spec
	s := gym.Spec{
		ID:      DreamID(m.Meta.EnvID),
		Version: "wm-" + strconv.Itoa(m.Meta.Transitions) + "-" + real.Version,
		Description: "A learned simulator of " + m.Meta.EnvID + " (world model trained on " +
			strconv.Itoa(m.Meta.Transitions) + " real transitions). Options: mode dream|mixed|shadow, real_fraction. " +
			"Info[\"worldmodel\"] carries the confidence of every prediction.",
		Tasks:            real.Tasks,
		MaxSteps:         real.MaxSteps,
		ObservationSpace: real.ObservationSpace,
		ActionSpace:      real.ActionSpace,
		Deterministic:    true,
		Components:       map[string]string{"world_model_of": m.Meta.EnvID},
	}
	if s.MaxSteps <= 0 {
		for _, v := range m.Meta.MaxSteps {
			s.MaxSteps = max(s.MaxSteps, v)
		}
		if s.MaxSteps <= 0 {
			s.MaxSteps = 100
		}
	}
	return s
}

// Env is a dream env instance.
type Env struct {
	m        *Model
	real     gym.Env // mixed and shadow modes
	mode     string
	fraction float64
	spec     gym.Spec

	obs      gym.Observation
	task     string
	steps    int
	limit    int
	started  bool
	done     bool
	closed   bool
	inReal   bool    // mixed: this episode runs in the real env
	diverged float64 // shadow: 1 − F1 summed over the episode

	pages  map[string]gym.Observation // dream: pages shown this episode, by pageKey line
	cur    *Curriculum                // nil: starts chosen by the seed alone
	curIdx int                        // the curriculum instance of this episode
	ret    float64                    // dream return so far
}

var _ gym.Env = (*Env)(nil)

// New makes a dream env of m; realReg makes the real env where the mode
// needs it.
func New(ctx context.Context, m *Model, realReg *gym.Registry, opts map[string]any) (*Env, error) {
	mode, fraction := modeDream, 0.0
	for k, v := range opts {
		switch k {
		case "mode":
			s, ok := v.(string)
			if !ok || (s != modeDream && s != modeMixed && s != modeShadow) {
				return nil, fmt.Errorf("worldmodel: option mode: want \"dream\", \"mixed\" or \"shadow\", got %v", v)
			}
			mode = s
		case "real_fraction":
			f, ok := v.(float64)
			if !ok || f < 0 || f > 1 {
				return nil, fmt.Errorf("worldmodel: option real_fraction: want a number in [0, 1], got %v", v)
			}
			fraction = f
		default:
			return nil, fmt.Errorf("worldmodel: unknown option %q (accepted: mode, real_fraction)", k)
		}
	}
	var real gym.Env
	if mode != modeDream {
		if realReg == nil {
			return nil, fmt.Errorf("%w: mode %s of %s", ErrNoRealEnv, mode, m.Meta.EnvID)
		}
		var err error
		if real, err = realReg.Make(ctx, m.Meta.EnvID, nil); err != nil {
			return nil, fmt.Errorf("worldmodel: real env: %w", err)
		}
	}
	return newEnv(m, real, mode, fraction), nil
}

func newEnv(m *Model, real gym.Env, mode string, fraction float64) *Env {
	return &Env{m: m, real: real, mode: mode, fraction: fraction, spec: dreamSpec(m)}
}

// Spec describes the dream id.
func (e *Env) Spec() gym.Spec { return e.spec }

// Close closes the real env, if any; it is safe to call twice.
func (e *Env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.real != nil {
		if err := e.real.Close(); err != nil {
			return fmt.Errorf("worldmodel: close real env: %w", err)
		}
	}
	return nil
}

// mix is a deterministic hash of a seed into [0, 1).
func mix(seed int64, salt string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write([]byte(strconv.FormatInt(seed, 10)))
	return h.Sum64()
}

// Reset starts an episode: in a dream, from a real start state of the
// task recorded in the buffer, chosen by the seed.
func (e *Env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if e.closed {
		return gym.Observation{}, gym.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return gym.Observation{}, fmt.Errorf("worldmodel: reset: %w", err)
	}
	if len(opts.Options) > 0 {
		return gym.Observation{}, fmt.Errorf("worldmodel: reset: %s takes no reset options", e.spec.ID)
	}
	task := opts.TaskID
	if task == "" && len(e.spec.Tasks) > 0 {
		task = e.spec.Tasks[0].ID
	}
	if len(e.spec.Tasks) > 0 && !slices.ContainsFunc(e.spec.Tasks, func(t gym.Task) bool { return t.ID == task }) {
		return gym.Observation{}, fmt.Errorf("worldmodel: %s: %w %q", e.spec.ID, gym.ErrUnknownTask, task)
	}
	e.task, e.steps, e.done, e.started, e.diverged, e.ret = task, 0, false, true, 0, 0
	e.pages = nil
	// The task's own limit, where the real env's spec lists one, is the
	// one the registry's gym.Enforced truncates at: the dream must end its
	// episode there itself, or the curriculum never records it.
	e.limit = gym.StepLimit(e.spec, task)
	if n := e.m.Meta.MaxSteps[task]; n > 0 {
		e.limit = min(e.limit, n)
	}
	e.inReal = e.mode == modeShadow || (e.mode == modeMixed && float64(mix(opts.Seed, "mixed")%1_000_000)/1e6 < e.fraction)
	if e.inReal {
		obs, err := e.real.Reset(ctx, opts)
		if err != nil {
			e.started = false
			return obs, fmt.Errorf("worldmodel: real reset: %w", err)
		}
		e.obs = obs
		return withInfo(obs, map[string]any{"mode": e.mode, "real": true}), nil
	}
	if e.cur != nil {
		i, st, err := e.cur.pick(task, opts.Seed)
		if err != nil {
			return gym.Observation{}, err
		}
		e.curIdx = i
		e.obs = gym.Observation{Text: st.text, ValidActions: st.valid}
		return withInfo(e.obs, map[string]any{"mode": e.mode, "real": false, "start_from": st.origin, "curriculum": i}), nil
	}
	starts := e.m.Buf.starts[task]
	if len(starts) == 0 {
		for _, t := range sortedKeys(e.m.Buf.starts) {
			starts = append(starts, e.m.Buf.starts[t]...)
		}
	}
	if len(starts) == 0 {
		return gym.Observation{}, fmt.Errorf("worldmodel: %w: no start states in the buffer", ErrNoData)
	}
	s := e.m.Buf.Steps[starts[mix(opts.Seed, task)%uint64(len(starts))]]
	e.obs = gym.Observation{Text: s.Obs, ValidActions: s.ValidActions}
	return withInfo(e.obs, map[string]any{"mode": e.mode, "real": false, "start_from": s.EpisodeID}), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// withInfo returns obs with info["worldmodel"] = wm (copying the map).
func withInfo(obs gym.Observation, wm map[string]any) gym.Observation {
	info := make(map[string]any, len(obs.Info)+1)
	for k, v := range obs.Info {
		info[k] = v
	}
	info["worldmodel"] = wm
	obs.Info = info
	return obs
}

// Step predicts the outcome of action (dream), or runs it in the real env
// (mixed episodes in the real env, shadow).
func (e *Env) Step(ctx context.Context, action string) (gym.StepResult, error) {
	switch {
	case e.closed:
		return gym.StepResult{}, gym.ErrClosed
	case !e.started:
		return gym.StepResult{}, gym.ErrNotReset
	case e.done:
		return gym.StepResult{}, gym.ErrEpisodeDone
	}
	if err := ctx.Err(); err != nil {
		return gym.StepResult{}, fmt.Errorf("worldmodel: step: %w", err)
	}
	if e.inReal {
		return e.realStep(ctx, action)
	}
	e.steps++
	res := e.dream(action)
	if !res.Terminated && e.steps >= e.limit {
		res.Truncated = true
		res.Observation.Info["truncated_by"] = "max_steps " + strconv.Itoa(e.limit)
	}
	e.ret += res.Reward
	if res.Done() {
		e.done = true
		res.Observation.Info["success"] = res.Terminated && res.Reward > 0 && res.Reward >= e.m.inference().successReward-1e-6
		if e.cur != nil {
			e.cur.record(e.task, e.curIdx, e.ret)
		}
	}
	e.obs = res.Observation
	return res, nil
}

func (e *Env) dream(action string) gym.StepResult {
	cur := gym.Observation{Text: e.obs.Text, ValidActions: e.obs.ValidActions}
	switch {
	case len(action) > maxActionBytes:
		return invalid(cur, fmt.Sprintf("the action is %d bytes long; the limit is %d", len(action), maxActionBytes))
	case !utf8.ValidString(action):
		return invalid(cur, "the action is not valid UTF-8 text")
	case strings.TrimSpace(action) == "":
		return invalid(cur, "the action is empty")
	}
	p := e.m.Predict(cur.Text, cur.ValidActions, action)
	wm := predictionInfo(p)
	na := normAction(action)
	listed := slices.ContainsFunc(cur.ValidActions, func(v string) bool { return normAction(v) == na || gym.FillsTemplate(action, v) })
	status := p.Status
	switch {
	case listed:
		status = gym.StatusOK // the state's own list is trusted over the head
	case len(cur.ValidActions) > 0 && status == gym.StatusOK && !e.m.resembles(action, cur.ValidActions):
		status = gym.StatusInvalidAction // unlike anything that applies here
		wm["overridden"] = "unlisted action unlike any valid action"
	case status.Infra():
		status = gym.StatusInvalidAction // a dream does not crash
	}
	if status == gym.StatusInvalidAction {
		res := invalid(cur, "the world model predicts this action does not apply here")
		if p.Status == gym.StatusInvalidAction && p.NextObs != cur.Text {
			res.Observation.Text = p.NextObs
		}
		res.Observation.Info["worldmodel"] = wm
		return res
	}
	obs := gym.Observation{Text: p.NextObs, ValidActions: p.ValidActions}
	if len(obs.ValidActions) == 0 && !p.Terminated {
		obs.ValidActions = cur.ValidActions
	}
	// A page shown earlier in this episode looks the same when navigated
	// back to (the results list the policy saw, not a neighbour's).
	if u, cu := pageOf(obs.Text), pageOf(cur.Text); u != "" && u != cu {
		if seen, ok := e.pages[u]; ok {
			obs = seen
			wm["source"] = "episode page"
		}
	}
	if u := pageOf(obs.Text); u != "" {
		if e.pages == nil {
			e.pages = map[string]gym.Observation{}
		}
		if cu := pageOf(cur.Text); cu != "" {
			if _, ok := e.pages[cu]; !ok {
				e.pages[cu] = cur
			}
		}
		e.pages[u] = gym.Observation{Text: obs.Text, ValidActions: obs.ValidActions}
	}
	obs = withInfo(obs, wm)
	return gym.StepResult{Observation: obs, Reward: p.Reward, Terminated: p.Terminated, Status: gym.StatusOK}
}

// resembles reports whether action is close to one of valid (cosine of
// hashed words ≥ 0.5), e.g. "go  North" or "north" for "go north".
func (m *Model) resembles(action string, valid []string) bool {
	in := m.inference()
	a := in.feat("a", action)
	for _, v := range valid {
		if dot(a, in.feat("a", v)) >= 0.5 {
			return true
		}
	}
	return false
}

func invalid(cur gym.Observation, why string) gym.StepResult {
	r := gym.Invalid(cur, why)
	r.Observation = withInfo(r.Observation, map[string]any{"mode": modeDream})
	return r
}

func predictionInfo(p Prediction) map[string]any {
	return map[string]any{
		"mode":      modeDream,
		"source":    p.Source,
		"neighbour": p.Neighbour,
		"confidence": map[string]any{
			"obs": p.Confidence.Obs, "reward": p.Confidence.Reward, "done": p.Confidence.Done,
			"status": p.Confidence.Status, "overall": p.Confidence.Overall,
		},
		"predicted_status": p.Status.String(),
	}
}

// realStep runs action in the real env; in shadow mode the model predicts
// beside it and the divergence goes in Info["shadow"].
func (e *Env) realStep(ctx context.Context, action string) (gym.StepResult, error) {
	prev := e.obs
	res, err := e.real.Step(ctx, action)
	if err != nil {
		return res, fmt.Errorf("worldmodel: real step: %w", err)
	}
	e.steps++
	if res.Done() {
		e.done = true
	}
	e.obs = res.Observation
	info := map[string]any{"mode": e.mode, "real": true}
	if e.mode == modeShadow {
		p := e.m.Predict(prev.Text, prev.ValidActions, action)
		f1 := tokenF1(p.NextObs, res.Observation.Text)
		e.diverged += 1 - f1
		info["shadow"] = map[string]any{
			"obs_exact":          p.NextObs == res.Observation.Text,
			"obs_f1":             f1,
			"reward_error":       math.Abs(p.Reward - res.Reward),
			"status_match":       p.Status == res.Status,
			"done_match":         p.Terminated == res.Terminated,
			"confidence":         p.Confidence.Overall,
			"obs_confidence":     p.Confidence.Obs,
			"predicted_obs":      p.NextObs,
			"predicted_reward":   p.Reward,
			"predicted_status":   p.Status.String(),
			"episode_divergence": e.diverged, // Σ (1 − F1) so far
		}
	}
	res.Observation = withInfo(res.Observation, info)
	return res, nil
}
