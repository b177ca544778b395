package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

// Notice is something the page shows about a run instead of failing: a
// truncated line, a missing file, episodes without steps, mixed versions.
type Notice struct {
	Level string `json:"level"` // "warn" or "error"
	Text  string `json:"text"`
}

// Episode is one row of a run's episode table. Its steps stay on disk:
// Off and End delimit them in the steps file, read when the episode is
// opened.
type Episode struct {
	Index        int            `json:"index"`
	ID           string         `json:"id"`
	EnvID        string         `json:"env_id"`
	EnvVersion   string         `json:"env_version,omitempty"`
	TaskID       string         `json:"task_id,omitempty"`
	Seed         int64          `json:"seed"`
	Policy       string         `json:"policy,omitempty"`
	Return       float64        `json:"return"`
	Success      bool           `json:"success"`
	Steps        int            `json:"steps"`
	StatusCounts map[string]int `json:"status_counts"`
	FinalStatus  string         `json:"final_status"`
	DurationMS   float64        `json:"duration_ms"`
	Manifest     bool           `json:"manifest"`   // a manifest line describes it
	StepLines    int            `json:"step_lines"` // step lines found in the steps file

	off, end int64
}

// Infra reports whether any step of the episode failed for an
// infrastructure reason (ENV_ERROR, TIMEOUT, CRASHED).
func (e *Episode) Infra() bool {
	for name, n := range e.StatusCounts {
		if st, err := gym.ParseStatus(name); err == nil && st.Infra() && n > 0 {
			return true
		}
	}
	return false
}

// Run is one recorded trajectory file (FILE.jsonl and its manifest). The
// manifest gives the episode table at once; the steps file is indexed in
// the background (byte ranges only), so a run of a million steps opens
// in the time it takes to read its manifests.
type Run struct {
	ID    string // short id used in URLs: r0, r1, …
	Name  string // the steps file's base name
	Path  string // the steps file
	Group string // the training run it belongs to, if any

	mu       sync.RWMutex
	episodes []*Episode
	byID     map[string]*Episode
	notices  []Notice
	indexed  bool
	lines    int64 // step lines indexed so far
	bytes    int64 // steps file size
	done     chan struct{}
}

// RunSummary is what the runs list shows.
type RunSummary struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Path       string   `json:"path"`
	Group      string   `json:"group,omitempty"`
	Envs       []string `json:"envs"`
	Episodes   int      `json:"episodes"`
	Successes  int      `json:"successes"`
	InfraEps   int      `json:"infra_episodes"`
	Steps      int      `json:"steps"`
	Indexed    bool     `json:"indexed"`
	StepLines  int64    `json:"step_lines"`
	Notices    []Notice `json:"notices"`
	MeanReturn float64  `json:"mean_return"`
}

// OpenRun reads path's manifests and starts indexing its steps. path may
// name the steps file or its manifest. Problems become notices; only an
// unreadable run (neither file exists) is an error.
func OpenRun(id, path string) (*Run, error) {
	if strings.HasSuffix(path, ".manifest.jsonl") {
		path = strings.TrimSuffix(path, ".manifest.jsonl") + ".jsonl"
	}
	r := &Run{ID: id, Name: filepath.Base(path), Path: path, byID: map[string]*Episode{}, done: make(chan struct{})}
	_, stepsErr := os.Stat(path)
	mpath := trajectory.ManifestPath(path)
	_, manErr := os.Stat(mpath)
	if stepsErr != nil && manErr != nil {
		return nil, fmt.Errorf("view: %s: no steps file and no manifest file (%s)", path, filepath.Base(mpath))
	}
	if manErr != nil {
		r.notice("warn", "no manifest file %s: the episode table is computed from the steps (success from the last step)", filepath.Base(mpath))
	} else {
		r.readManifests(mpath)
	}
	if stepsErr != nil {
		r.notice("error", "the steps file %s is missing: episodes show their manifests only", filepath.Base(path))
		r.indexed = true
		close(r.done)
		r.finish()
		return r, nil
	}
	go r.index()
	return r, nil
}

func (r *Run) notice(level, format string, args ...any) {
	r.notices = append(r.notices, Notice{Level: level, Text: fmt.Sprintf(format, args...)})
}

func (r *Run) readManifests(path string) {
	f, err := os.Open(path)
	if err != nil {
		r.notice("error", "cannot read %s: %v", filepath.Base(path), err)
		return
	}
	defer f.Close()
	bad := 0
	firstBad := 0
	err = eachLine(f, func(n int, _ int64, line []byte) {
		var m trajectory.Manifest
		if err := json.Unmarshal(line, &m); err != nil || m.EpisodeID == "" {
			if bad == 0 {
				firstBad = n
			}
			bad++
			return
		}
		ep := &Episode{
			ID: m.EpisodeID, EnvID: m.EnvID, EnvVersion: m.EnvVersion, TaskID: m.TaskID, Seed: m.Seed,
			Policy: m.Policy, Return: m.Return, Success: m.Success, Steps: m.Steps,
			StatusCounts: m.StatusCounts, FinalStatus: m.FinalStatus.String(), Manifest: true, off: -1,
		}
		if !m.End.IsZero() && !m.Start.IsZero() {
			ep.DurationMS = float64(m.End.Sub(m.Start)) / float64(time.Millisecond)
		}
		if ep.StatusCounts == nil {
			ep.StatusCounts = map[string]int{}
		}
		r.add(ep)
	})
	if err != nil {
		r.notice("error", "reading %s stopped: %v", filepath.Base(path), err)
	}
	if bad > 0 {
		r.notice("warn", "%d line(s) of %s are not valid manifests (first: line %d; a truncated last line is what an interrupted run leaves) and were skipped", bad, filepath.Base(path), firstBad)
	}
}

func (r *Run) add(ep *Episode) {
	if old, ok := r.byID[ep.ID]; ok && old != nil {
		r.notice("warn", "episode %s appears twice; the later one is shown", ep.ID)
		*old = *ep
		return
	}
	ep.Index = len(r.episodes)
	r.episodes = append(r.episodes, ep)
	r.byID[ep.ID] = ep
}

// index scans the steps file once, recording each episode's byte range.
// Steps of an episode are contiguous (the writer appends whole episodes).
func (r *Run) index() {
	defer close(r.done)
	f, err := os.Open(r.Path)
	if err != nil {
		r.mu.Lock()
		r.notice("error", "cannot read %s: %v", r.Name, err)
		r.indexed = true
		r.mu.Unlock()
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		r.mu.Lock()
		r.bytes = st.Size()
		r.mu.Unlock()
	}
	var (
		cur      *Episode
		bad      int
		firstBad int
		orphans  []*Episode
	)
	flush := func() {
		if cur == nil {
			return
		}
		r.mu.Lock()
		if ep, ok := r.byID[cur.ID]; ok {
			if ep.off >= 0 {
				r.notice("warn", "the steps of episode %s are split in the steps file; only the first block is shown", cur.ID)
			} else {
				ep.off, ep.end, ep.StepLines = cur.off, cur.end, cur.StepLines
				if ep.StepLines != ep.Steps {
					r.notice("warn", "episode %s: the manifest counts %d steps, the steps file has %d", ep.ID, ep.Steps, ep.StepLines)
				}
			}
		} else {
			orphans = append(orphans, cur)
			r.add(cur)
		}
		r.lines += int64(cur.StepLines)
		r.mu.Unlock()
		cur = nil
	}
	err = eachLine(f, func(n int, off int64, line []byte) {
		id, ok := episodeIDOf(line)
		if !ok {
			if bad == 0 {
				firstBad = n
			}
			bad++
			return
		}
		if cur == nil || cur.ID != id {
			flush()
			cur = &Episode{ID: id, off: off, StatusCounts: map[string]int{}}
		}
		cur.end = off + int64(len(line)) + 1
		cur.StepLines++
	})
	flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.notice("error", "reading %s stopped: %v", r.Name, err)
	}
	if bad > 0 {
		r.notice("warn", "%d step line(s) are not valid JSON (first: line %d; a truncated last line is what an interrupted run leaves) and were skipped", bad, firstBad)
	}
	if len(orphans) > 0 && len(r.episodes) > len(orphans) {
		r.notice("warn", "%d episode(s) have steps but no manifest (the run stopped mid-episode?): their row is computed from the steps", len(orphans))
	}
	for _, ep := range orphans {
		r.summarise(f, ep)
	}
	r.indexed = true
	r.finish()
}

// summarise fills the table row of an episode that has no manifest from
// its steps, with the gym's success rule on the last step.
func (r *Run) summarise(f io.ReaderAt, ep *Episode) {
	steps, _, err := readSteps(f, ep.off, ep.end)
	if err != nil || len(steps) == 0 {
		return
	}
	first, last := steps[0], steps[len(steps)-1]
	ep.EnvID, ep.TaskID, ep.Seed, ep.Steps = first.EnvID, first.TaskID, first.Seed, len(steps)
	for _, s := range steps {
		ep.Return += s.Reward
		ep.StatusCounts[s.Status.String()]++
		ep.DurationMS += s.StepMS
	}
	ep.FinalStatus = last.Status.String()
	ep.Success = trajectory.Success(gym.StepResult{
		Observation: gym.Observation{Text: last.NextObs, Info: last.Info},
		Reward:      last.Reward, Terminated: last.Terminated, Truncated: last.Truncated, Status: last.Status,
	})
}

// finish adds the notices that need the whole run: manifests without
// steps and mixed env versions. Called with r.mu held (or before the run
// is shared).
func (r *Run) finish() {
	var missing []string
	versions := map[string]map[string]int{}
	for _, ep := range r.episodes {
		if ep.Manifest && ep.off < 0 {
			missing = append(missing, ep.ID)
		}
		if !ep.Manifest {
			continue // a row computed from steps knows no version
		}
		if versions[ep.EnvID] == nil {
			versions[ep.EnvID] = map[string]int{}
		}
		versions[ep.EnvID][ep.EnvVersion]++
	}
	if len(missing) > 0 {
		ids := missing
		if len(ids) > 3 {
			ids = append(ids[:3:3], "…")
		}
		r.notice("warn", "%d episode(s) have a manifest but no steps in %s (%s): their timeline is empty", len(missing), r.Name, strings.Join(ids, ", "))
	}
	for env, vs := range versions {
		if len(vs) < 2 {
			continue
		}
		var parts []string
		for v, n := range vs {
			parts = append(parts, fmt.Sprintf("%s: %d episodes", v, n))
		}
		sort.Strings(parts)
		r.notice("warn", "this run mixes versions of %s (%s): compare its episodes with care", env, strings.Join(parts, ", "))
	}
}

// Wait blocks until the steps file is indexed.
func (r *Run) Wait() { <-r.done }

// Summary describes the run for the runs list.
func (r *Run) Summary() RunSummary {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := RunSummary{ID: r.ID, Name: r.Name, Path: r.Path, Group: r.Group, Episodes: len(r.episodes),
		Indexed: r.indexed, StepLines: r.lines, Notices: append([]Notice{}, r.notices...)}
	envs := map[string]bool{}
	for _, ep := range r.episodes {
		envs[ep.EnvID] = true
		if ep.Success {
			s.Successes++
		}
		if ep.Infra() {
			s.InfraEps++
		}
		s.Steps += ep.Steps
		s.MeanReturn += ep.Return
	}
	if len(r.episodes) > 0 {
		s.MeanReturn /= float64(len(r.episodes))
	}
	for e := range envs {
		s.Envs = append(s.Envs, e)
	}
	sort.Strings(s.Envs)
	return s
}

// Query selects a page of episodes.
type Query struct {
	Offset, Limit int
	Sort          string // a column name: index, env, task, seed, policy, return, success, steps, duration
	Desc          bool
	Success       string // "", "yes", "no"
	Status        string // "" or a status name some step had
	Task          string // "" or a task id
	Text          string // substring of episode id, env or task
}

// Page is one page of the episode table.
type Page struct {
	Total    int        `json:"total"`
	Offset   int        `json:"offset"`
	Episodes []*Episode `json:"episodes"`
	Tasks    []string   `json:"tasks"`
	Statuses []string   `json:"statuses"`
}

// Episodes filters, sorts and pages the episode table.
func (r *Run) Episodes(q Query) Page {
	r.mu.RLock()
	defer r.mu.RUnlock()
	tasks, statuses := map[string]bool{}, map[string]bool{}
	var sel []*Episode
	for _, ep := range r.episodes {
		tasks[ep.TaskID] = true
		for st, n := range ep.StatusCounts {
			if n > 0 {
				statuses[st] = true
			}
		}
		switch {
		case q.Success == "yes" && !ep.Success, q.Success == "no" && ep.Success:
			continue
		case q.Status != "" && ep.StatusCounts[q.Status] == 0:
			continue
		case q.Task != "" && ep.TaskID != q.Task:
			continue
		case q.Text != "" && !strings.Contains(ep.ID+" "+ep.EnvID+" "+ep.TaskID+" "+ep.Policy, q.Text):
			continue
		}
		sel = append(sel, ep)
	}
	less := map[string]func(a, b *Episode) bool{
		"env":      func(a, b *Episode) bool { return a.EnvID < b.EnvID },
		"task":     func(a, b *Episode) bool { return a.TaskID < b.TaskID },
		"seed":     func(a, b *Episode) bool { return a.Seed < b.Seed },
		"policy":   func(a, b *Episode) bool { return a.Policy < b.Policy },
		"return":   func(a, b *Episode) bool { return a.Return < b.Return },
		"success":  func(a, b *Episode) bool { return !a.Success && b.Success },
		"steps":    func(a, b *Episode) bool { return a.Steps < b.Steps },
		"duration": func(a, b *Episode) bool { return a.DurationMS < b.DurationMS },
	}[q.Sort]
	if less != nil {
		sort.SliceStable(sel, func(i, j int) bool {
			if q.Desc {
				return less(sel[j], sel[i])
			}
			return less(sel[i], sel[j])
		})
	} else if q.Desc {
		for i, j := 0, len(sel)-1; i < j; i, j = i+1, j-1 {
			sel[i], sel[j] = sel[j], sel[i]
		}
	}
	p := Page{Total: len(sel), Offset: q.Offset, Tasks: keys(tasks), Statuses: keys(statuses)}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	if q.Offset < 0 {
		q.Offset = 0
	}
	if q.Offset < len(sel) {
		end := min(q.Offset+q.Limit, len(sel))
		p.Episodes = sel[q.Offset:end]
	}
	if p.Episodes == nil {
		p.Episodes = []*Episode{}
	}
	return p
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// EpisodeDetail is an episode with its steps.
type EpisodeDetail struct {
	Episode *Episode          `json:"episode"`
	Steps   []trajectory.Step `json:"steps"`
	Notices []Notice          `json:"notices"`
}

// ErrNoEpisode is returned for an episode id the run does not have.
var ErrNoEpisode = errors.New("no such episode")

// Episode reads one episode's steps from disk.
func (r *Run) Episode(id string) (EpisodeDetail, error) {
	r.mu.RLock()
	ep, ok := r.byID[id]
	var cp Episode
	if ok {
		cp = *ep
	}
	indexed := r.indexed
	r.mu.RUnlock()
	if !ok {
		return EpisodeDetail{}, fmt.Errorf("%w %q in %s", ErrNoEpisode, id, r.Name)
	}
	d := EpisodeDetail{Episode: &cp, Steps: []trajectory.Step{}, Notices: []Notice{}}
	if cp.off < 0 {
		if !indexed {
			d.Notices = append(d.Notices, Notice{"warn", "the steps file is still being indexed: reload in a moment"})
		} else {
			d.Notices = append(d.Notices, Notice{"warn", "this episode has a manifest but no steps in " + r.Name})
		}
		return d, nil
	}
	f, err := os.Open(r.Path)
	if err != nil {
		return d, fmt.Errorf("view: %w", err)
	}
	defer f.Close()
	steps, bad, err := readSteps(f, cp.off, cp.end)
	if err != nil {
		return d, err
	}
	if bad > 0 {
		d.Notices = append(d.Notices, Notice{"warn", fmt.Sprintf("%d step line(s) of this episode are not valid JSON and were skipped", bad)})
	}
	for _, s := range steps {
		for _, shot := range []string{s.Screenshot, s.NextScreenshot} {
			if shot == "" {
				continue
			}
			if _, err := os.Stat(r.file(shot)); err != nil {
				d.Notices = append(d.Notices, Notice{"warn", fmt.Sprintf("screenshot %s of step %d is missing", shot, s.Step)})
			}
		}
	}
	d.Steps = steps
	return d, nil
}

// file resolves a path recorded in a step line (relative to the steps
// file's folder) to a path on disk; it never leaves that folder.
func (r *Run) file(rel string) string {
	clean := filepath.Clean("/" + filepath.FromSlash(rel))
	return filepath.Join(filepath.Dir(r.Path), clean)
}

func readSteps(f io.ReaderAt, off, end int64) ([]trajectory.Step, int, error) {
	buf := make([]byte, end-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("view: read steps: %w", err)
	}
	var out []trajectory.Step
	bad := 0
	for _, line := range bytes.Split(buf, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var s trajectory.Step
		if err := json.Unmarshal(line, &s); err != nil {
			bad++
			continue
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, bad, nil
}

// eachLine calls fn with every non-blank line (1-based number, byte
// offset). Lines of any length are read whole.
func eachLine(rd io.Reader, fn func(n int, off int64, line []byte)) error {
	br := bufio.NewReaderSize(rd, 1<<20)
	var (
		off  int64
		n    int
		long []byte
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(line) > 0 {
			n++
			body := bytes.TrimRight(line, "\r\n")
			if len(bytes.TrimSpace(body)) > 0 {
				fn(n, off, body)
			}
			off += int64(len(line))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

var idPrefix = []byte(`{"episode_id":"`)

// episodeIDOf reads a step line's episode id without decoding the line:
// the writer puts it first. Other writers' lines take the slow path. A
// line that is not a whole JSON object (a truncated last line) is not a
// step.
func episodeIDOf(line []byte) (string, bool) {
	if bytes.HasPrefix(line, idPrefix) && line[len(line)-1] == '}' {
		rest := line[len(idPrefix):]
		if i := bytes.IndexByte(rest, '"'); i > 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i]), true
		}
	}
	var s struct {
		EpisodeID string `json:"episode_id"`
	}
	if err := json.Unmarshal(line, &s); err != nil || s.EpisodeID == "" {
		return "", false
	}
	return s.EpisodeID, true
}
