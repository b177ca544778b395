package gym

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Vector steps N env instances concurrently, one goroutine per instance,
// and resets each one as soon as its episode ends (auto-reset).
type Vector struct {
	envs []Env
	// NextReset picks the options for env i's next episode; episode counts
	// from 0 per env. The default plays seed base+i, base+i+N, … on the
	// task given to Reset.
	NextReset func(i, episode int) ResetOptions
	episodes  []int
}

// VectorStep is one instance's part of a vector step.
type VectorStep struct {
	StepResult // the step itself; when Done, its Observation is the episode's last
	// Reset holds the first observation of the next episode when the
	// instance was auto-reset after this step.
	Reset *Observation
	Err   error // contract misuse or a failed auto-reset, for this instance only
}

// NewVector takes ownership of envs; Close closes them all.
func NewVector(envs []Env) *Vector {
	return &Vector{envs: envs, episodes: make([]int, len(envs))}
}

// Len is the number of instances.
func (v *Vector) Len() int { return len(v.envs) }

// Env returns instance i.
func (v *Vector) Env(i int) Env { return v.envs[i] }

// Reset resets every instance: instance i gets base.Seed+i and base.TaskID
// unless NextReset is set.
func (v *Vector) Reset(ctx context.Context, base ResetOptions) ([]Observation, error) {
	if v.NextReset == nil {
		n := int64(len(v.envs))
		v.NextReset = func(i, episode int) ResetOptions {
			o := base
			o.Seed = base.Seed + int64(i) + int64(episode)*n
			return o
		}
	}
	obs := make([]Observation, len(v.envs))
	errs := make([]error, len(v.envs))
	v.parallel(func(i int) {
		v.episodes[i] = 0
		obs[i], errs[i] = v.envs[i].Reset(ctx, v.NextReset(i, 0))
		if errs[i] != nil {
			errs[i] = fmt.Errorf("env %d: %w", i, errs[i])
		}
	})
	return obs, errors.Join(errs...)
}

// Step sends actions[i] to instance i, all at once.
func (v *Vector) Step(ctx context.Context, actions []string) ([]VectorStep, error) {
	if len(actions) != len(v.envs) {
		return nil, fmt.Errorf("gym: vector step got %d actions for %d envs", len(actions), len(v.envs))
	}
	out := make([]VectorStep, len(v.envs))
	v.parallel(func(i int) {
		r, err := v.envs[i].Step(ctx, actions[i])
		out[i] = VectorStep{StepResult: r, Err: err}
		if err != nil || !r.Done() {
			return
		}
		v.episodes[i]++
		obs, err := v.envs[i].Reset(ctx, v.NextReset(i, v.episodes[i]))
		if err != nil {
			out[i].Err = fmt.Errorf("gym: auto-reset env %d: %w", i, err)
			return
		}
		out[i].Reset = &obs
	})
	return out, nil
}

// Close closes every instance.
func (v *Vector) Close() error {
	errs := make([]error, len(v.envs))
	v.parallel(func(i int) { errs[i] = v.envs[i].Close() })
	return errors.Join(errs...)
}

func (v *Vector) parallel(f func(i int)) {
	var wg sync.WaitGroup
	for i := range v.envs {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
