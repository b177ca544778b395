package gym

import (
	"context"
	"errors"
)

// Env is one environment instance. It is not safe for concurrent use: one
// goroutine drives it, as in Gymnasium. Run several instances for
// parallelism (see Vector).
//
// The life cycle is Reset, then Step until the result is Done, then Reset
// again or Close. Step after the episode ended returns ErrEpisodeDone; Step
// before the first Reset returns ErrNotReset; any call after Close returns
// ErrClosed. Registry.Make enforces this order and the step limit for
// every env (see Enforce), so an env implements only its reset and step
// logic.
type Env interface {
	// Reset starts a new episode. Two resets with the same Seed and TaskID,
	// followed by the same actions, must produce the same observations and
	// rewards. A zero ResetOptions picks the first task with seed 0.
	Reset(ctx context.Context, opts ResetOptions) (Observation, error)

	// Step parses and executes one action. A malformed or impossible action
	// is not an error: it yields StatusInvalidAction with an observation
	// that explains what was wrong, and the episode goes on. The error
	// return is for misuse of the contract (ErrEpisodeDone, ErrNotReset,
	// ErrClosed) or a context cancelled by the caller.
	Step(ctx context.Context, action string) (StepResult, error)

	// Spec describes the env: id, version, tasks, limits.
	Spec() Spec

	// Close releases everything the instance holds. It is safe to call twice.
	Close() error
}

// ResetOptions select the episode to play.
type ResetOptions struct {
	Seed    int64          `json:"seed"`
	TaskID  string         `json:"task_id,omitempty"`
	Options map[string]any `json:"options,omitempty"` // env-specific, JSON-serialisable
}

// Observation is what the agent sees.
type Observation struct {
	Text         string   `json:"text"`                    // required: what an LLM reads
	Screenshot   []byte   `json:"screenshot,omitempty"`    // optional PNG
	ValidActions []string `json:"valid_actions,omitempty"` // set where the env can enumerate them
	// Info is free-form, JSON-serialisable detail (reward parts, success,
	// the error behind an invalid action). Policies should not need it.
	Info map[string]any `json:"info,omitempty"`
}

// StepResult is the outcome of one Step.
type StepResult struct {
	Observation Observation `json:"observation"`
	Reward      float64     `json:"reward"`
	// Terminated: the episode reached a terminal state of the task
	// (success or failure). Truncated: it was cut short from outside
	// (step limit, infrastructure failure).
	Terminated bool   `json:"terminated"`
	Truncated  bool   `json:"truncated"`
	Status     Status `json:"status"`
}

// Done reports whether the episode is over.
func (r StepResult) Done() bool { return r.Terminated || r.Truncated }

// Success is the one rule for "the episode's task was achieved", read on
// an episode's final step by gym run, eval, chaos, the trainer and the
// world model alike: info["success"] when the env sets it (a bool),
// otherwise terminated with a positive reward. An env whose reward can be
// positive on failure (partial credit) should set info["success"].
func (r StepResult) Success() bool {
	if s, ok := r.Observation.Info[InfoSuccess].(bool); ok {
		return s
	}
	return r.Terminated && r.Reward > 0
}

// Grounded reports whether the action executed.
func (r StepResult) Grounded() bool { return r.Status.Grounded() }

// Task is one task of an env family.
type Task struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	MaxSteps    int    `json:"max_steps,omitempty"` // 0: the Spec's MaxSteps
}

// Spec describes an env id.
type Spec struct {
	ID          string `json:"id"`      // "family/name-v0"
	Version     string `json:"version"` // version of the implementation, recorded in trajectories
	Description string `json:"description,omitempty"`
	Tasks       []Task `json:"tasks,omitempty"`
	// MaxSteps is the step limit of an episode (0: none). The registry
	// enforces it: the step that reaches it is truncated, so an env never
	// counts steps itself. A Task's own MaxSteps overrides it.
	MaxSteps int `json:"max_steps,omitempty"`
	// StepTimeoutS is how long one step may legitimately take (a test run,
	// a page load); hosts use it as the deadline of calls that have none.
	// 0: the host's default.
	StepTimeoutS float64 `json:"step_timeout_s,omitempty"`
	// ObservationSpace and ActionSpace describe, for people and prompts,
	// what observations look like and which action strings parse.
	ObservationSpace string `json:"observation_space,omitempty"`
	ActionSpace      string `json:"action_space,omitempty"`
	// Deterministic: same seed and actions give the same observations.
	Deterministic bool `json:"deterministic"`
	// SeedFree: the seed does not change the episode (one episode per
	// task, e.g. a fixed puzzle). gym check's seed_sensitivity then does
	// not expect different seeds to give different episodes.
	SeedFree bool `json:"seed_free,omitempty"`
	// Components records versions of parts the results depend on
	// (e.g. "chromium": "156.0"), copied into trajectory manifests.
	Components map[string]string `json:"components,omitempty"`
	// Capabilities lists the optional interfaces the env implements, by
	// name (see Capable). Plugin hosts fill it from the plugin's manifest.
	Capabilities []string `json:"capabilities,omitempty"`
}

// Errors for misuse of the contract; callers branch with errors.Is.
var (
	ErrNotReset     = errors.New("gym: step before reset")
	ErrEpisodeDone  = errors.New("gym: step after the episode ended; call Reset")
	ErrClosed       = errors.New("gym: env is closed")
	ErrUnknownTask  = errors.New("gym: unknown task")
	ErrUnsupported  = errors.New("gym: capability not supported by this env")
	ErrUnknownEnvID = errors.New("gym: unknown env id")
)

// Conventional keys of Observation.Info. Envs set what applies; callers
// read them only through the functions named here.
const (
	// InfoSuccess (bool, final step): the task was achieved; see
	// StepResult.Success.
	InfoSuccess = "success"
	// InfoError (string): why an action was invalid (Invalid) or what
	// failed (Failed).
	InfoError = "error"
	// InfoTruncatedBy (string): what cut the episode short, e.g. the step
	// limit.
	InfoTruncatedBy = "truncated_by"
	// InfoTaskID (string, reset observation): the task the env chose
	// when ResetOptions named none (e.g. by seed); trajectories record it.
	InfoTaskID = "task_id"
	// InfoRewardParts (map[string]float64): the terms the reward sums.
	InfoRewardParts = "reward_parts"
	// InfoTraceback (string, an ENV_ERROR step): the stack of the panic or
	// exception inside the env, for its author.
	InfoTraceback = "traceback"
)

// Invalid builds the result of an action the env could not parse or
// execute: no reward, the episode goes on, and the text tells the agent why.
func Invalid(obs Observation, why string) StepResult {
	if obs.Info == nil {
		obs.Info = map[string]any{}
	} else {
		info := make(map[string]any, len(obs.Info)+1)
		for k, v := range obs.Info {
			info[k] = v
		}
		obs.Info = info
	}
	obs.Info[InfoError] = why
	obs.Text = "Invalid action: " + why + "\n\n" + obs.Text
	return StepResult{Observation: obs, Status: StatusInvalidAction}
}

// Failed builds the result of a step the infrastructure could not
// complete (a dead sandbox, a browser that stopped answering): the one
// rule is that an infrastructure failure truncates the episode, so the
// step says why and the caller resets. status should satisfy
// Status.Infra; any other status becomes StatusEnvError.
func Failed(status Status, err error) StepResult {
	if !status.Infra() {
		status = StatusEnvError
	}
	msg := "unknown failure"
	if err != nil {
		msg = err.Error()
	}
	return StepResult{
		Observation: Observation{Text: "The environment failed: " + msg, Info: map[string]any{InfoError: msg}},
		Truncated:   true,
		Status:      status,
	}
}
