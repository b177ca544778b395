package gym

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Factory builds a new env instance. opts are env-specific and
// JSON-serialisable so they can cross a plugin boundary.
type Factory func(ctx context.Context, opts map[string]any) (Env, error)

// idPattern is "family/name-vN"; names may contain dots, dashes and
// underscores, e.g. "text/maze-small-v0".
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*/[a-zA-Z0-9][a-zA-Z0-9_.-]*-v[0-9]+$`)

// ValidateID checks that id looks like "family/name-v0".
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("gym: env id %q must look like \"family/name-v0\"", id)
	}
	return nil
}

// Registry maps env ids to factories. The zero value is not usable; use
// NewRegistry. Each program owns its registries: there is no global one.
type Registry struct {
	mu      sync.RWMutex
	entries map[string]entry
}

type entry struct {
	spec    Spec
	factory Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]entry{}} }

// Register adds spec.ID. Registering an id twice is an error.
func (r *Registry) Register(spec Spec, factory Factory) error {
	if err := ValidateID(spec.ID); err != nil {
		return err
	}
	if factory == nil {
		return fmt.Errorf("gym: register %s: nil factory", spec.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[spec.ID]; dup {
		return fmt.Errorf("gym: env id %s registered twice", spec.ID)
	}
	r.entries[spec.ID] = entry{spec: spec, factory: factory}
	return nil
}

// MustRegister is Register for program set-up, where a failure is a bug.
func (r *Registry) MustRegister(spec Spec, factory Factory) {
	if err := r.Register(spec, factory); err != nil {
		panic(err)
	}
}

// Make builds a new instance of id, wrapped in Enforced (call order, step
// limit, infra failures truncate). An unknown id is an error wrapping
// ErrUnknownEnvID that names the closest registered ids.
func (r *Registry) Make(ctx context.Context, id string, opts map[string]any) (Env, error) {
	r.mu.RLock()
	e, ok := r.entries[id]
	r.mu.RUnlock()
	if !ok {
		return nil, r.unknown(id)
	}
	env, err := e.factory(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("gym: make %s: %w", id, err)
	}
	return Enforce(env), nil
}

// Spec returns the registered spec of id.
func (r *Registry) Spec(id string) (Spec, error) {
	r.mu.RLock()
	e, ok := r.entries[id]
	r.mu.RUnlock()
	if !ok {
		return Spec{}, r.unknown(id)
	}
	return e.spec, nil
}

// IDs lists the registered ids, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.entries))
	for id := range r.entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Specs lists the registered specs, sorted by id.
func (r *Registry) Specs() []Spec {
	ids := r.IDs()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Spec, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.entries[id].spec)
	}
	return out
}

func (r *Registry) unknown(id string) error {
	near := Nearest(id, r.IDs(), 3)
	if len(near) == 0 {
		return fmt.Errorf("%w %q (no envs registered)", ErrUnknownEnvID, id)
	}
	return fmt.Errorf("%w %q; did you mean %s?", ErrUnknownEnvID, id, strings.Join(near, ", "))
}

// Nearest returns up to n candidates closest to s by edit distance.
func Nearest(s string, candidates []string, n int) []string {
	type scored struct {
		id string
		d  int
	}
	all := make([]scored, 0, len(candidates))
	for _, c := range candidates {
		all = append(all, scored{c, editDistance(s, c)})
	}
	slices.SortStableFunc(all, func(a, b scored) int { return a.d - b.d })
	out := []string{}
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, all[i].id)
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
