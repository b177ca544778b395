package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/envgym/envgym/internal/torch"
)

// runState is what a checkpoint records about the run that wrote it, so
// that a resumed run continues its step count and iteration numbers.
type runState struct {
	EnvID    string `json:"env_id"`
	Task     string `json:"task"`
	Iters    int    `json:"iters"`
	EnvSteps int    `json:"env_steps"`
}

const (
	stateFile   = "state.json"
	metricsFile = "metrics.jsonl"
	reportFile  = "report.json"
	curveFile   = "curve.png"
)

// resume loads cfg.Resume's policy and state and makes the envs. The
// optimizer starts afresh (its moments are not saved).
func resume(ctx context.Context, cfg Config) (*warm, error) {
	dev, err := torch.Setup(cfg.Seed, cfg.Threads)
	if err != nil {
		return nil, err
	}
	pol, err := LoadPolicy(cfg.Resume, dev)
	if err != nil {
		return nil, err
	}
	var st runState
	b, err := os.ReadFile(filepath.Join(cfg.Resume, stateFile))
	if err != nil {
		return nil, fmt.Errorf("trainer: resume: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("trainer: resume: decode %s: %w", stateFile, err)
	}
	if st.EnvID != cfg.EnvID {
		return nil, fmt.Errorf("%w: resume: the checkpoint was trained on %s, not %s", ErrConfig, st.EnvID, cfg.EnvID)
	}
	w := &warm{pol: pol, rep: Report{Device: dev.Name, EnvSteps: st.EnvSteps, resumedIters: st.Iters}}
	if w.envs, err = makeEnvs(ctx, cfg, cfg.NumEnvs); err != nil {
		return nil, err
	}
	ev, err := evaluateVec(ctx, pol, w.envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors)
	if err != nil {
		for _, e := range w.envs {
			e.Close()
		}
		return nil, err
	}
	w.rep.SuccessUntrained, w.rep.SuccessBefore = ev.Success, ev.Success
	return w, nil
}

// metricsLog writes a run's per-iteration figures and checkpoints to
// cfg.OutDir.
type metricsLog struct {
	dir string
	f   *os.File
}

func openMetrics(cfg Config) (*metricsLog, error) {
	if cfg.OutDir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("trainer: out dir: %w", err)
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if cfg.Resume != "" && filepath.Clean(cfg.Resume) == filepath.Clean(cfg.OutDir) {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND // one curve across the resumed runs
	}
	f, err := os.OpenFile(filepath.Join(cfg.OutDir, metricsFile), flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trainer: metrics: %w", err)
	}
	return &metricsLog{dir: cfg.OutDir, f: f}, nil
}

// iteration appends st to metrics.jsonl and rewrites the checkpoint.
func (m *metricsLog) iteration(cfg Config, pol *Policy, st IterStats) error {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if _, err := m.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if err := pol.Save(m.dir); err != nil {
		return err
	}
	return writeJSON(filepath.Join(m.dir, stateFile), runState{EnvID: cfg.EnvID, Task: cfg.Task, Iters: st.Iter + 1, EnvSteps: st.EnvSteps})
}

// finish writes report.json and the learning curve (every line of
// metrics.jsonl, so a resumed run draws one curve).
func (m *metricsLog) finish(cfg Config, rep Report) error {
	if m == nil {
		return nil
	}
	if err := m.f.Close(); err != nil {
		return fmt.Errorf("trainer: metrics: %w", err)
	}
	if err := writeJSON(filepath.Join(m.dir, reportFile), rep); err != nil {
		return err
	}
	iters, err := ReadMetrics(filepath.Join(m.dir, metricsFile))
	if err != nil {
		return err
	}
	succ, ret := Series{Name: "success (training episodes)"}, Series{Name: "mean return"}
	for _, st := range iters {
		succ.X, succ.Y = append(succ.X, float64(st.EnvSteps)), append(succ.Y, st.Success)
		ret.X, ret.Y = append(ret.X, float64(st.EnvSteps)), append(ret.Y, st.Return)
	}
	return WritePlot(filepath.Join(m.dir, curveFile), fmt.Sprintf("%s %s: %s, %s reward", cfg.EnvID, cfg.Task, cfg.Algo, cfg.Reward),
		"env steps", []Series{succ, ret})
}

// ReadMetrics reads a metrics.jsonl written by a training run.
func ReadMetrics(path string) ([]IterStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer: read metrics: %w", err)
	}
	var out []IterStats
	for l := range strings.Lines(string(b)) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var st IterStats
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			return nil, fmt.Errorf("trainer: read metrics %s: %w", path, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("trainer: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("trainer: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
