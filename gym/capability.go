package gym

import (
	"context"
	"reflect"
	"slices"
)

// Optional capabilities. An env implements the ones it can; callers
// discover them with Capable, never by asking every env for everything.

// Screenshotter renders the current state as a PNG.
type Screenshotter interface {
	Screenshot(ctx context.Context) ([]byte, error)
}

// ValidActioner enumerates the actions that parse and apply in the
// current state.
type ValidActioner interface {
	ValidActions(ctx context.Context) ([]string, error)
}

// Snapshotter forks the current state so k branches can be played from it
// (GRPO groups). Snapshots are opaque bytes, valid for the same env id and
// version.
type Snapshotter interface {
	Snapshot(ctx context.Context) ([]byte, error)
	Restore(ctx context.Context, snapshot []byte) (Observation, error)
}

// Renderer shows the state to a person (a terminal, a log).
type Renderer interface {
	Render(ctx context.Context) (string, error)
}

// Oracle proposes an action that makes progress toward the goal. Envs with
// a scripted solver implement it; it drives "--policy oracle", behaviour
// cloning data and tests.
type Oracle interface {
	OracleAction(ctx context.Context) (string, error)
}

// Unwrapper is implemented by wrappers so capabilities of the wrapped env
// stay reachable.
type Unwrapper interface {
	Unwrap() Env
}

// capabilityReporter is implemented by envs (such as plugin clients) that
// implement every capability method but support only some at run time.
type capabilityReporter interface {
	Supports(capability string) bool
}

// capabilityTypes are the capabilities by the names used in Spec.Capabilities.
var capabilityTypes = []reflect.Type{
	reflect.TypeFor[Screenshotter](),
	reflect.TypeFor[ValidActioner](),
	reflect.TypeFor[Snapshotter](),
	reflect.TypeFor[Renderer](),
	reflect.TypeFor[Oracle](),
}

// Capable returns env, or the env it wraps, as capability T when it
// supports it, e.g. snap, ok := gym.Capable[gym.Snapshotter](env).
func Capable[T any](env Env) (T, bool) {
	name := reflect.TypeFor[T]().Name()
	for env != nil {
		if c, ok := env.(T); ok {
			if r, ok := env.(capabilityReporter); !ok || r.Supports(name) {
				return c, true
			}
		}
		u, ok := env.(Unwrapper)
		if !ok {
			break
		}
		env = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Capabilities lists the capability names env supports, sorted.
func Capabilities(env Env) []string {
	var out []string
	for env != nil {
		r, reports := env.(capabilityReporter)
		for _, t := range capabilityTypes {
			if reflect.TypeOf(env).Implements(t) && (!reports || r.Supports(t.Name())) {
				out = append(out, t.Name())
			}
		}
		u, ok := env.(Unwrapper)
		if !ok {
			break
		}
		env = u.Unwrap()
	}
	slices.Sort(out)
	return slices.Compact(out)
}
