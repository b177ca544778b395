package swe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/wire"
)

// Register adds swe/gomut-v0 (generated tasks) and swe/custom-v0 (tasks
// from a JSONL file, option "tasks") to r.
//
// Options: "seed" (generator seed, default 0), "n" (tasks, default 20),
// "cache_dir" (default the user cache dir), "sandbox_dir" (episode dirs,
// default the temp dir), "tasks" (custom-v0: JSONL path), "sandbox"
// ("namespace", the default, or "docker"), "warm" (docker: containers
// kept started for the next Reset, default 1).
func Register(r *gym.Registry) error {
	for _, id := range []string{GenID, CustomID} {
		spec := gym.Spec{
			ID: id, Version: Version,
			Description: "Fix a bug in a real Go repository inside an isolated sandbox (no network). " +
				"Reward 1 on submit() when the FAIL_TO_PASS tests now pass and PASS_TO_PASS still pass; test files are restored before grading.",
			ObservationSpace: "Text: the problem statement at reset, then tool output (truncated with a marker).",
			ActionSpace:      "One Go-call-like tool per step: " + fmt.Sprint(validActions()),
			MaxSteps:         100,
			StepTimeoutS:     900, // submit and run_tests compile and run a test suite
			Capabilities:     gym.Capabilities(&Env{}),
			// A custom task file's task is the whole episode (the seed
			// only picks a task when none is named); gomut-v0's spec lists
			// no tasks, so its seed picks one.
			SeedFree: id == CustomID,
		}
		err := r.Register(spec, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
			return newEnv(ctx, spec, opts)
		})
		if err != nil {
			return fmt.Errorf("swe: %w", err)
		}
	}
	return nil
}

func newEnv(ctx context.Context, spec gym.Spec, opts map[string]any) (*Env, error) {
	cache, _ := os.UserCacheDir()
	cfg := GenConfig{N: 20, CacheDir: filepath.Join(cache, "envgym", "swe")}
	sandboxDir, tasksPath, sandbox, warm := "", "", "namespace", 1
	for k, v := range opts {
		switch k {
		case "warm":
			f, ok := v.(float64)
			if i, isInt := v.(int); isInt {
				f, ok = float64(i), true
			}
			if !ok || f < 0 {
				return nil, fmt.Errorf("option %q: want a number >= 0, got %v", k, v)
			}
			warm = int(f)
		case "seed", "n":
			f, ok := v.(float64)
			if i, isInt := v.(int); isInt {
				f, ok = float64(i), true
			}
			if !ok {
				return nil, fmt.Errorf("option %q: want a number, got %T", k, v)
			}
			if k == "seed" {
				cfg.Seed = int64(f)
			} else if cfg.N = int(f); cfg.N < 1 {
				return nil, fmt.Errorf("option %q: want a positive integer", k)
			}
		case "cache_dir", "sandbox_dir", "tasks", "sandbox":
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("option %q: want a string, got %T", k, v)
			}
			switch k {
			case "cache_dir":
				cfg.CacheDir = s
			case "sandbox_dir":
				sandboxDir = s
			case "sandbox":
				if s != "namespace" && s != "docker" {
					return nil, fmt.Errorf("option %q: want \"namespace\" or \"docker\", got %q", k, s)
				}
				sandbox = s
			default:
				tasksPath = s
			}
		default:
			return nil, fmt.Errorf("unknown option %q for %s (accepted: seed, n, cache_dir, sandbox_dir, tasks, sandbox, warm)", k, spec.ID)
		}
	}
	if spec.ID == CustomID && tasksPath == "" {
		return nil, fmt.Errorf("%s needs option \"tasks\" (a JSONL file)", spec.ID)
	}
	e := &Env{spec: spec}
	// The build cache is mounted into sandboxes whose user is the host's
	// nobody: it must not live under a private home (/root is 0700).
	gocache := filepath.Join(os.TempDir(), "envgym-swe-gocache")
	if sandbox == "docker" {
		d, err := NewDocker(ctx, DockerConfig{Dir: sandboxDir, GoCache: gocache, Warm: warm})
		if err != nil {
			return nil, err
		}
		e.backend, e.closeBackend = d, d.Close
	} else {
		// Under the plugin host, its sandboxes' cgroups go in the subtree
		// the host delegated (the rest of the tree is read-only to us).
		backend, err := NewNamespace(NamespaceConfig{Dir: sandboxDir, GoCache: gocache, CgroupDir: os.Getenv(wire.EnvCgroupDir)})
		if err != nil {
			return nil, err
		}
		e.backend = backend
	}
	if spec.ID == CustomID {
		// Loaded now, so a bad task file fails at make (naming the line and
		// field) and the spec lists the tasks, as trajectories record them.
		tasks, err := LoadTaskFile(tasksPath)
		if err != nil {
			e.closeBackendQuietly()
			return nil, err
		}
		e.spec.Tasks = make([]gym.Task, len(tasks))
		for i, t := range tasks {
			e.spec.Tasks[i] = gym.Task{ID: t.InstanceID}
		}
		e.load = func(context.Context) ([]Task, error) { return tasks, nil }
	} else {
		e.load = func(ctx context.Context) ([]Task, error) { return Generate(ctx, cfg) }
	}
	return e, nil
}

// closeBackendQuietly releases a backend the env made, when making the
// env fails after it.
func (e *Env) closeBackendQuietly() {
	if e.closeBackend != nil {
		_ = e.closeBackend()
	}
}
