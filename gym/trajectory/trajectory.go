// Package trajectory records episodes as plain JSONL: one line per step in
// FILE.jsonl and one manifest line per episode in FILE.manifest.jsonl, so
// pandas.read_json(lines=True) and HF datasets read them as they are.
package trajectory

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
)

// Step is one line of FILE.jsonl: the observation the action was chosen
// on, the action, and what came of it.
type Step struct {
	EpisodeID    string         `json:"episode_id"`
	EnvID        string         `json:"env_id"`
	TaskID       string         `json:"task_id,omitempty"`
	Seed         int64          `json:"seed"`
	Step         int            `json:"step"` // 0-based
	Obs          string         `json:"obs"`
	ValidActions []string       `json:"valid_actions,omitempty"`
	Action       string         `json:"action"`
	NextObs      string         `json:"next_obs"`
	Reward       float64        `json:"reward"`
	Status       gym.Status     `json:"status"`
	Grounded     bool           `json:"grounded"`
	Terminated   bool           `json:"terminated"`
	Truncated    bool           `json:"truncated"`
	StepMS       float64        `json:"step_ms"`
	Info         map[string]any `json:"info,omitempty"`
	// PolicyInfo is what the policy reported about choosing Action (an
	// LLM policy: prompt_tokens, completion_tokens, the raw reply); see
	// Recorder.SetPolicyInfo.
	PolicyInfo map[string]any `json:"policy_info,omitempty"`
	// Screenshot is the PNG the action was chosen on, and NextScreenshot
	// (last step only) the final one: paths relative to FILE.jsonl's
	// folder, written when the Recorder has a ScreenshotDir.
	Screenshot     string `json:"screenshot,omitempty"`
	NextScreenshot string `json:"next_screenshot,omitempty"`
}

// Manifest is one line of FILE.manifest.jsonl, written when an episode ends.
type Manifest struct {
	EpisodeID    string            `json:"episode_id"`
	EnvID        string            `json:"env_id"`
	EnvVersion   string            `json:"env_version"`
	TaskID       string            `json:"task_id,omitempty"`
	Seed         int64             `json:"seed"`
	Policy       string            `json:"policy,omitempty"`
	PluginSHA256 string            `json:"plugin_sha256,omitempty"`
	Components   map[string]string `json:"components,omitempty"`
	Start        time.Time         `json:"start_time"`
	End          time.Time         `json:"end_time"`
	Steps        int               `json:"steps"`
	Return       float64           `json:"return"`
	Success      bool              `json:"success"`
	Terminated   bool              `json:"terminated"`
	Truncated    bool              `json:"truncated"`
	FinalStatus  gym.Status        `json:"final_status"`
	StatusCounts map[string]int    `json:"status_counts"`
	// PromptTokens and CompletionTokens total the integer
	// "prompt_tokens" and "completion_tokens" of the steps' PolicyInfo.
	PromptTokens     int `json:"prompt_tokens,omitempty"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	// Replica is the server (ip:port) that served the episode, for envs
	// played on remote replicas (see Served); empty for local envs.
	Replica string `json:"replica,omitempty"`
}

// Served is implemented by envs played on a remote server, such as
// serve.RemoteEnv: Server is the address of the replica holding the env
// now ("" when none).
type Served interface {
	Server() string
}

// ManifestPath is where the manifests of the steps file path go.
func ManifestPath(stepsPath string) string {
	return strings.TrimSuffix(stepsPath, ".jsonl") + ".manifest.jsonl"
}

// Writer appends steps and manifests. It is safe for concurrent use, so
// the envs of a Vector can share one. Every episode's lines are flushed
// and synced when the episode ends: a crash later loses nothing already
// reported.
type Writer struct {
	mu        sync.Mutex
	path      string
	steps     *os.File
	manifests *os.File
	sw, mw    *bufio.Writer
}

// Create opens (truncating) path and its manifest file.
func Create(path string) (*Writer, error) {
	s, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trajectory: %w", err)
	}
	m, err := os.Create(ManifestPath(path))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("trajectory: %w", err)
	}
	return &Writer{path: path, steps: s, manifests: m, sw: bufio.NewWriter(s), mw: bufio.NewWriter(m)}, nil
}

// Path is the steps file the writer appends to.
func (w *Writer) Path() string { return w.path }

// WriteEpisode appends a finished episode and makes it durable.
func (w *Writer) WriteEpisode(steps []Step, m Manifest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range steps {
		if err := writeLine(w.sw, s); err != nil {
			return err
		}
	}
	if err := writeLine(w.mw, m); err != nil {
		return err
	}
	for _, f := range []struct {
		b *bufio.Writer
		f *os.File
	}{{w.sw, w.steps}, {w.mw, w.manifests}} {
		if err := f.b.Flush(); err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
	}
	return nil
}

// Close flushes and closes both files.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first error
	for _, f := range []struct {
		b *bufio.Writer
		f *os.File
	}{{w.sw, w.steps}, {w.mw, w.manifests}} {
		if err := f.b.Flush(); err != nil && first == nil {
			first = err
		}
		if err := f.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("trajectory: encode: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("trajectory: %w", err)
	}
	return nil
}

// ReadSteps reads FILE.jsonl.
func ReadSteps(path string) ([]Step, error) { return readLines[Step](path) }

// ReadManifests reads FILE.manifest.jsonl.
func ReadManifests(path string) ([]Manifest, error) { return readLines[Manifest](path) }

func readLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trajectory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []T
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("trajectory: %s line %d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trajectory: %s: %w", path, err)
	}
	return out, nil
}
