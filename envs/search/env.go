package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/envgym/envgym/envs/search/corpus"
	"github.com/envgym/envgym/envs/search/qa"
	"github.com/envgym/envgym/gym"
)

// env is one search env instance. The database is shared and read-only;
// everything an episode changes lives in episode, which is what Snapshot
// saves. The call order is gym.Enforced's to guard (Registry.Make).
type env struct {
	spec gym.Spec
	cfg  config
	db   *database
	st   episode
	gold map[string]bool
}

// episode is the whole mutable state of an episode.
type episode struct {
	Corpus    string             `json:"corpus"` // corpus hash, checked on Restore
	Task      string             `json:"task"`
	Seed      int64              `json:"seed"`
	Question  int                `json:"question"`
	Steps     int                `json:"steps"`
	LastKind  string             `json:"last_kind,omitempty"` // "search" or "open": what judge applies to
	Last      []string           `json:"last,omitempty"`      // doc ids of the last result
	LastQuery string             `json:"last_query,omitempty"`
	Judged    bool               `json:"judged,omitempty"`
	Retrieved []string           `json:"retrieved,omitempty"` // gold ids seen in results, in order
	Opened    []string           `json:"opened,omitempty"`    // gold ids opened, in order
	Totals    map[string]float64 `json:"totals"`              // reward parts summed over the episode
	Done      bool               `json:"done,omitempty"`
	Obs       string             `json:"obs"` // last observation text
}

func newEnv(spec gym.Spec, c config, db *database) *env {
	spec.MaxSteps = c.maxSteps
	spec.Components = maps.Clone(spec.Components)
	spec.Components["corpus"] = db.hash
	spec.Tasks = nil
	for _, t := range allTasks {
		if len(db.byTask[t.ID]) > 0 {
			spec.Tasks = append(spec.Tasks, t)
		}
	}
	spec.Description += fmt.Sprintf(" Playing: %s, %d passages, %d questions.", db.source, db.corpus.Len(), len(db.questions))
	e := &env{spec: spec, cfg: c, db: db}
	e.spec.Capabilities = gym.Capabilities(e)
	return e
}

func (e *env) Spec() gym.Spec { return e.spec }

// Close has nothing to release: the database belongs to the store and
// outlives instances.
func (e *env) Close() error { return nil }

func (e *env) question() *corpus.Question { return &e.db.questions[e.st.Question] }

// splitmix64 spreads consecutive seeds over the question pool.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Reset picks the question: ResetOptions.Seed indexes the task's question
// pool deterministically; Options {"question_id": "q0042"} picks one by id.
func (e *env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if err := ctx.Err(); err != nil {
		return gym.Observation{}, err
	}
	task := opts.TaskID
	if task == "" {
		task = "all"
	}
	pool := e.db.byTask[task]
	if len(pool) == 0 {
		return gym.Observation{}, fmt.Errorf("%w %q; tasks: %s", gym.ErrUnknownTask, task, strings.Join(e.db.taskIDs(), ", "))
	}
	qi := pool[splitmix64(uint64(opts.Seed))%uint64(len(pool))]
	for k, v := range opts.Options {
		if k != "question_id" {
			return gym.Observation{}, fmt.Errorf("search: unknown reset option %q (known: question_id)", k)
		}
		id, _ := v.(string)
		qi = slices.IndexFunc(e.db.questions, func(q corpus.Question) bool { return q.ID == id })
		if qi < 0 {
			return gym.Observation{}, fmt.Errorf("%w: no question with id %v", gym.ErrUnknownTask, v)
		}
	}
	e.st = episode{Corpus: e.db.hash, Task: task, Seed: opts.Seed, Question: qi, Totals: map[string]float64{}}
	e.setGold()
	text := fmt.Sprintf("Question: %s\n\nFind the answer by searching a corpus of %d passages.\n%s\n\nYou have %d steps.",
		e.question().Question, e.db.corpus.Len(), actionSpace, e.limit())
	e.st.Obs = text
	return gym.Observation{Text: text, ValidActions: e.validActions(), Info: e.baseInfo()}, nil
}

func (e *env) setGold() {
	e.gold = map[string]bool{}
	for _, id := range e.question().SupportingIDs {
		e.gold[id] = true
	}
}

func (e *env) baseInfo() map[string]any {
	q := e.question()
	return map[string]any{
		"question_id": q.ID, "hops": q.Hops, "task": e.st.Task, "step": e.st.Steps,
		"gold_total": len(e.gold), "gold_retrieved": len(e.st.Retrieved), "gold_opened": len(e.st.Opened),
	}
}

// Step parses and applies one action. Registry.Make's gym.Enforced keeps
// the call order. The env counts steps and ends the episode at the step
// limit itself (the same limit, gym.StepLimit, so Enforced never has to):
// its observation shows the steps left, and the last step scores the
// episode and reveals the gold answers, which a wrapper cannot know to do.
func (e *env) Step(ctx context.Context, raw string) (gym.StepResult, error) {
	if err := ctx.Err(); err != nil {
		return gym.StepResult{}, err
	}
	e.st.Steps++
	parts := map[string]float64{"retrieve": 0, "open": 0, "judge": 0, "answer": 0}
	info := map[string]any{}
	var body string
	var res gym.StepResult
	a, err := parseAction(raw)
	if err == nil {
		body, err = e.apply(ctx, a, parts, info)
	}
	var infra *envError
	switch {
	case errors.As(err, &infra):
		// A failure of the index, not of the agent.
		if ctx.Err() != nil {
			e.st.Steps--
			return gym.StepResult{}, ctx.Err()
		}
		res = gym.Failed(gym.StatusEnvError, fmt.Errorf("the search failed: %w", infra))
		info[gym.InfoError] = infra.Error()
	case err != nil:
		res = gym.Invalid(gym.Observation{Text: e.footer()}, err.Error())
	default:
		res.Observation.Text = body + "\n\n" + e.footer()
	}
	if a.verb == verbAnswer && err == nil {
		res.Terminated = true
	} else if e.st.Steps >= e.limit() {
		res.Truncated = true
		info[gym.InfoTruncatedBy] = fmt.Sprintf("max_steps (%d)", e.limit())
		info["em"], info["f1"], info[gym.InfoSuccess] = 0.0, 0.0, false
		info["gold_answers"] = e.question().Answers
	}
	process := parts["retrieve"] + parts["open"] + parts["judge"]
	res.Reward = parts["answer"]
	if e.cfg.processRewards {
		res.Reward += process
	}
	for k, v := range parts {
		e.st.Totals[k] += v
	}
	e.st.Done = res.Done()
	res.Observation.Info = e.baseInfo()
	maps.Copy(res.Observation.Info, info)
	if err != nil && infra == nil {
		res.Observation.Info[gym.InfoError] = err.Error()
	}
	res.Observation.Info["reward_parts"] = parts
	res.Observation.Info["process_reward"] = process
	res.Observation.Info["outcome_reward"] = parts["answer"]
	if e.st.Done {
		res.Observation.Info["return_parts"] = maps.Clone(e.st.Totals)
	} else {
		res.Observation.ValidActions = e.validActions()
	}
	e.st.Obs = res.Observation.Text
	return res, nil
}

// limit is the episode's step limit: the one gym.Enforced applies too.
func (e *env) limit() int { return gym.StepLimit(e.spec, e.st.Task) }

// envError marks a failure of the env (the index), as opposed to a bad
// action.
type envError struct{ err error }

func (e *envError) Error() string { return e.err.Error() }
func (e *envError) Unwrap() error { return e.err }

func (e *env) footer() string {
	left := e.limit() - e.st.Steps
	return fmt.Sprintf("Question: %s\nSteps left: %d", e.question().Question, max(left, 0))
}

// apply executes a parsed action and returns the observation body. Errors
// other than *envError are the agent's mistakes.
func (e *env) apply(ctx context.Context, a action, parts map[string]float64, info map[string]any) (string, error) {
	switch a.verb {
	case verbSearch:
		return e.search(ctx, a.arg, parts)
	case verbOpen:
		return e.open(a.arg, parts)
	case verbJudge:
		return e.judge(a.arg, parts, info)
	default:
		return e.answer(a.arg, parts, info)
	}
}

func (e *env) search(ctx context.Context, q string, parts map[string]float64) (string, error) {
	q = strings.TrimSpace(q)
	if n := len([]rune(q)); n > e.cfg.maxQueryChars {
		return "", fmt.Errorf("query is %d characters; the limit is %d", n, e.cfg.maxQueryChars)
	}
	hits, err := e.db.index.Search(ctx, q, e.cfg.topK)
	if err != nil {
		return "", &envError{err}
	}
	e.st.LastKind, e.st.LastQuery, e.st.Judged = "search", q, false
	e.st.Last = e.st.Last[:0:0]
	var b strings.Builder
	if len(hits) == 0 {
		fmt.Fprintf(&b, "No passages match %s. Try other words: names, places, years.", quote(q))
		return b.String(), nil
	}
	fmt.Fprintf(&b, "Results for %s:", quote(q))
	terms := e.db.index.Terms(q)
	for i, h := range hits {
		d, ok := e.db.corpus.Get(h.ID)
		if !ok {
			continue
		}
		e.st.Last = append(e.st.Last, d.ID)
		fmt.Fprintf(&b, "\n[%d] %s | %s: %s", i+1, d.ID, d.Title, e.snippet(d.Text, terms))
		if e.gold[d.ID] && !slices.Contains(e.st.Retrieved, d.ID) {
			e.st.Retrieved = append(e.st.Retrieved, d.ID)
			parts["retrieve"] += e.cfg.retrieveReward
		}
	}
	return b.String(), nil
}

// snippet is the sentence of text sharing most terms with the query,
// clipped to snippetChars at a word boundary.
func (e *env) snippet(text string, terms []string) string {
	best, bestScore := text, -1
	for s := range strings.SplitAfterSeq(text, ". ") {
		score := 0
		for _, t := range e.db.index.Terms(s) {
			if slices.Contains(terms, t) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	return clipWords(strings.TrimSpace(best), e.cfg.snippetChars)
}

func clipWords(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
	}
	return strings.TrimSpace(s[:cut]) + " …"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func (e *env) open(id string, parts map[string]float64) (string, error) {
	id = strings.Trim(strings.TrimSpace(id), `[]"'`)
	d, ok := e.db.corpus.Get(id)
	if !ok {
		hint := "search first, then open a doc id from the results"
		if e.st.LastKind == "search" && len(e.st.Last) > 0 {
			hint = "ids in the last results: " + strings.Join(e.st.Last, ", ")
		}
		return "", fmt.Errorf("no passage with id %q; %s", clip(id, 40), hint)
	}
	e.st.LastKind, e.st.Last, e.st.Judged = "open", []string{d.ID}, false
	if e.gold[d.ID] && !slices.Contains(e.st.Opened, d.ID) {
		e.st.Opened = append(e.st.Opened, d.ID)
		parts["open"] += e.cfg.openReward
	}
	return fmt.Sprintf("%s | %s\n%s", d.ID, d.Title, clipWords(d.Text, e.cfg.maxOpenChars)), nil
}

func (e *env) judge(arg string, parts map[string]float64, info map[string]any) (string, error) {
	useful, err := parseJudgement(arg)
	if err != nil {
		return "", err
	}
	if e.st.LastKind == "" {
		return "", errors.New("nothing to judge yet: search or open first")
	}
	if e.st.Judged {
		return "", errors.New("the last result is already judged: search or open again first")
	}
	e.st.Judged = true
	what := "the search results"
	if e.st.LastKind == "open" {
		what = "the passage " + e.st.Last[0]
	}
	if len(e.gold) == 0 {
		// Without supporting passages there is nothing to check against.
		info["judge_correct"] = nil
		return fmt.Sprintf("Noted: %s judged %s.", what, judgement(useful)), nil
	}
	truth := slices.ContainsFunc(e.st.Last, func(id string) bool { return e.gold[id] })
	info["judge_correct"] = truth == useful
	if truth == useful {
		parts["judge"] += e.cfg.judgeReward
	}
	return fmt.Sprintf("Noted: %s judged %s.", what, judgement(useful)), nil
}

func judgement(useful bool) string {
	if useful {
		return "useful"
	}
	return "not useful"
}

func (e *env) answer(text string, parts map[string]float64, info map[string]any) (string, error) {
	text = strings.TrimSpace(text)
	q := e.question()
	em, f1 := qa.Score(text, q.Answers)
	parts["answer"] = f1
	if e.cfg.finalReward == "em" {
		parts["answer"] = em
	}
	info["em"], info["f1"], info[gym.InfoSuccess] = em, f1, em == 1
	info["gold_answers"] = q.Answers
	info["answer"] = text
	verdict := "incorrect"
	switch {
	case em == 1:
		verdict = "correct"
	case f1 > 0:
		verdict = "partly correct"
	}
	return fmt.Sprintf("Answer %s submitted: %s (exact match %.0f, F1 %.2f). The gold answer is %s.",
		quote(text), verdict, em, f1, quote(q.Answers[0])), nil
}

// ValidActions lists open(id) for the last results, judge when there is
// an unjudged result, and templates for search and answer.
func (e *env) ValidActions(ctx context.Context) ([]string, error) {
	return e.validActions(), nil
}

func (e *env) validActions() []string {
	if e.st.Done {
		return nil
	}
	out := []string{`search("<query>")`}
	if e.st.LastKind == "search" {
		for _, id := range e.st.Last {
			out = append(out, "open("+id+")")
		}
	}
	if e.st.LastKind != "" && !e.st.Judged {
		out = append(out, "judge(useful)", "judge(not_useful)")
	}
	return append(out, `answer("<text>")`)
}

// OracleAction follows the gold chain: for each supporting passage in hop
// order, search for it (its entity name), open it, judge it useful; then
// answer with the gold answer.
func (e *env) OracleAction(ctx context.Context) (string, error) {
	if e.st.LastKind == "open" && !e.st.Judged && e.gold[e.st.Last[0]] {
		return "judge(useful)", nil
	}
	q := e.question()
	for i, id := range q.SupportingIDs {
		if slices.Contains(e.st.Opened, id) {
			continue
		}
		query := e.oracleQuery(q, i)
		// Open once the passage was retrieved, or once its query was
		// tried: open works on any id, so the chain never stalls.
		if slices.Contains(e.st.Retrieved, id) || e.st.LastQuery == query {
			return "open(" + id + ")", nil
		}
		return "search(" + quote(query) + ")", nil
	}
	return "answer(" + quote(q.Answers[0]) + ")", nil
}

func (e *env) oracleQuery(q *corpus.Question, i int) string {
	if i < len(q.Queries) && q.Queries[i] != "" {
		return clip(q.Queries[i], e.cfg.maxQueryChars)
	}
	d, _ := e.db.corpus.Get(q.SupportingIDs[i])
	if d.Title != "" {
		return clip(d.Title, e.cfg.maxQueryChars)
	}
	return clip(strings.Join(strings.Fields(d.Text)[:min(12, len(strings.Fields(d.Text)))], " "), e.cfg.maxQueryChars)
}

// Snapshot saves the episode; the shared corpus and index are not copied.
func (e *env) Snapshot(ctx context.Context) ([]byte, error) {
	b, err := json.Marshal(e.st)
	if err != nil {
		return nil, fmt.Errorf("search: snapshot: %w", err)
	}
	return b, nil
}

// Restore resumes a snapshot taken on the same corpus.
func (e *env) Restore(ctx context.Context, snapshot []byte) (gym.Observation, error) {
	var st episode
	if err := json.Unmarshal(snapshot, &st); err != nil {
		return gym.Observation{}, fmt.Errorf("search: restore: %w", err)
	}
	if st.Corpus != e.db.hash {
		return gym.Observation{}, fmt.Errorf("search: restore: snapshot is of corpus %s, this env plays %s", st.Corpus, e.db.hash)
	}
	if st.Question < 0 || st.Question >= len(e.db.questions) {
		return gym.Observation{}, fmt.Errorf("search: restore: question %d out of range", st.Question)
	}
	if st.Totals == nil {
		st.Totals = map[string]float64{}
	}
	e.st = st
	e.setGold()
	return gym.Observation{Text: st.Obs, ValidActions: e.validActions(), Info: e.baseInfo()}, nil
}

// Render returns the last observation.
func (e *env) Render(ctx context.Context) (string, error) {
	return e.st.Obs, nil
}
