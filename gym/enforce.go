package gym

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
)

// Enforced is the wrapper Registry.Make puts around every env, as
// Gymnasium's make() adds OrderEnforcing and TimeLimit: it applies the
// contract's bookkeeping once, so env authors write only reset and step
// logic.
//
//   - Order: Step before Reset gives ErrNotReset, Step after the episode
//     ended gives ErrEpisodeDone, any call after Close gives ErrClosed and
//     Close reaches the env once.
//   - Step limit: the step that reaches the episode's limit (the task's
//     MaxSteps, else the spec's) is truncated, with info["truncated_by"].
//   - Infrastructure failures truncate: a step with an infra Status that
//     the env left open is truncated (see Failed).
//
// Capability calls pass through; Snapshot records the step count with the
// env's snapshot and Restore brings both back, so a restored branch has
// the steps it had left.
type Enforced struct {
	Wrapper
	caps     []string // the wrapped env's capabilities
	limit    int      // of the current episode; 0: none
	steps    int
	started  bool // an episode is under way or ended
	done     bool
	closed   bool
	closeErr error
}

// Enforce wraps env in an Enforced. Wrapping an Enforced again returns it.
func Enforce(env Env) Env {
	if e, ok := env.(*Enforced); ok {
		return e
	}
	return &Enforced{Wrapper: Wrapper{env}, caps: Capabilities(env)}
}

// StepLimit is the step limit of an episode of task taskID under spec:
// the task's own MaxSteps, else the spec's; 0 means none. An empty taskID
// is the first task, as Reset reads it.
func StepLimit(spec Spec, taskID string) int {
	for i, t := range spec.Tasks {
		if t.ID == taskID || (taskID == "" && i == 0) {
			if t.MaxSteps > 0 {
				return t.MaxSteps
			}
			break
		}
	}
	return spec.MaxSteps
}

// Supports reports the wrapped env's capabilities, so Capable looks
// through this wrapper except where it has a job (Snapshotter).
func (e *Enforced) Supports(capability string) bool { return slices.Contains(e.caps, capability) }

func (e *Enforced) Reset(ctx context.Context, opts ResetOptions) (Observation, error) {
	if e.closed {
		return Observation{}, ErrClosed
	}
	obs, err := e.Env.Reset(ctx, opts)
	if err != nil {
		e.started = false
		return obs, err
	}
	e.started, e.done, e.steps = true, false, 0
	e.limit = StepLimit(e.Env.Spec(), opts.TaskID)
	return obs, nil
}

func (e *Enforced) Step(ctx context.Context, action string) (StepResult, error) {
	switch {
	case e.closed:
		return StepResult{}, ErrClosed
	case !e.started:
		return StepResult{}, ErrNotReset
	case e.done:
		return StepResult{}, ErrEpisodeDone
	}
	r, err := e.Env.Step(ctx, action)
	if err != nil {
		return r, err
	}
	e.steps++
	r = limitSteps(r, e.steps, e.limit)
	if r.Status.Infra() && !r.Done() {
		r.Truncated = true
	}
	e.done = r.Done()
	return r, nil
}

// limitSteps truncates r when it is the limit-th step of an episode that
// is still open: the one definition of the step limit.
func limitSteps(r StepResult, steps, limit int) StepResult {
	if limit > 0 && steps >= limit && !r.Done() {
		r.Truncated = true
		r.Observation.Info = withInfo(r.Observation.Info, InfoTruncatedBy, fmt.Sprintf("time limit of %d steps", limit))
	}
	return r
}

// Close closes the wrapped env once.
func (e *Enforced) Close() error {
	if e.closed {
		return e.closeErr
	}
	e.closed = true
	e.closeErr = e.Env.Close()
	return e.closeErr
}

// usable guards capability calls: they need a live, reset env.
func (e *Enforced) usable() error {
	switch {
	case e.closed:
		return ErrClosed
	case !e.started:
		return ErrNotReset
	}
	return nil
}

// Screenshot implements Screenshotter.
func (e *Enforced) Screenshot(ctx context.Context) ([]byte, error) {
	c, ok := Capable[Screenshotter](e.Env)
	if !ok {
		return nil, fmt.Errorf("%w: Screenshotter", ErrUnsupported)
	}
	if err := e.usable(); err != nil {
		return nil, err
	}
	return c.Screenshot(ctx)
}

// ValidActions implements ValidActioner.
func (e *Enforced) ValidActions(ctx context.Context) ([]string, error) {
	c, ok := Capable[ValidActioner](e.Env)
	if !ok {
		return nil, fmt.Errorf("%w: ValidActioner", ErrUnsupported)
	}
	if err := e.usable(); err != nil {
		return nil, err
	}
	return c.ValidActions(ctx)
}

// Render implements Renderer.
func (e *Enforced) Render(ctx context.Context) (string, error) {
	c, ok := Capable[Renderer](e.Env)
	if !ok {
		return "", fmt.Errorf("%w: Renderer", ErrUnsupported)
	}
	if err := e.usable(); err != nil {
		return "", err
	}
	return c.Render(ctx)
}

// OracleAction implements Oracle.
func (e *Enforced) OracleAction(ctx context.Context) (string, error) {
	c, ok := Capable[Oracle](e.Env)
	if !ok {
		return "", fmt.Errorf("%w: Oracle", ErrUnsupported)
	}
	if err := e.usable(); err != nil {
		return "", err
	}
	if e.done {
		return "", ErrEpisodeDone
	}
	return c.OracleAction(ctx)
}

// snapshotMagic starts the snapshots of an Enforced: the step count and
// whether the episode had ended come first, the env's snapshot after.
const snapshotMagic = "gymE1"

// Snapshot implements Snapshotter.
func (e *Enforced) Snapshot(ctx context.Context) ([]byte, error) {
	c, ok := Capable[Snapshotter](e.Env)
	if !ok {
		return nil, fmt.Errorf("%w: Snapshotter", ErrUnsupported)
	}
	if err := e.usable(); err != nil {
		return nil, err
	}
	inner, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	b := append([]byte(snapshotMagic), 0)
	if e.done {
		b[len(b)-1] = 1
	}
	b = binary.AppendUvarint(b, uint64(e.steps))
	b = binary.AppendUvarint(b, uint64(e.limit))
	return append(b, inner...), nil
}

// Restore implements Snapshotter. A snapshot the env took itself (without
// this wrapper's header) restores with a fresh step count.
func (e *Enforced) Restore(ctx context.Context, snapshot []byte) (Observation, error) {
	c, ok := Capable[Snapshotter](e.Env)
	if !ok {
		return Observation{}, fmt.Errorf("%w: Snapshotter", ErrUnsupported)
	}
	if e.closed {
		return Observation{}, ErrClosed
	}
	steps, limit, done, inner := 0, StepLimit(e.Env.Spec(), ""), false, snapshot
	if rest, ok := cutSnapshotHeader(snapshot); ok {
		done = rest[0] == 1
		s, n1 := binary.Uvarint(rest[1:])
		l, n2 := 0, 0
		if n1 > 0 {
			var lu uint64
			lu, n2 = binary.Uvarint(rest[1+n1:])
			l = int(lu)
		}
		if n1 <= 0 || n2 <= 0 {
			return Observation{}, fmt.Errorf("gym: restore: corrupt snapshot header")
		}
		steps, limit, inner = int(s), l, rest[1+n1+n2:]
	}
	obs, err := c.Restore(ctx, inner)
	if err != nil {
		return obs, err
	}
	e.started, e.done, e.steps, e.limit = true, done, steps, limit
	return obs, nil
}

func cutSnapshotHeader(b []byte) ([]byte, bool) {
	if len(b) < len(snapshotMagic)+1 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, false
	}
	return b[len(snapshotMagic):], true
}
