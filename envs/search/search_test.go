package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

// sharedCache holds the index of the small corpus for the whole test
// binary, so most tests reopen it instead of building it.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "envgym-search-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// small is the corpus most tests play on: 2,000 passages build in well
// under a second. An empty cacheDir means the shared one.
func small(cacheDir string, extra map[string]any) map[string]any {
	if cacheDir == "" {
		cacheDir = sharedCache
	}
	o := map[string]any{"passages": 2000, "questions_per_hop": 60, "cache_dir": cacheDir, "seed": 11}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func newRegistry(t testing.TB) *gym.Registry {
	t.Helper()
	r := gym.NewRegistry()
	st := newStore(nil)
	if err := register(r, st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return r
}

func makeEnv(t testing.TB, r *gym.Registry, id string, opts map[string]any) *env {
	t.Helper()
	e, err := r.Make(context.Background(), id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e.(gym.Unwrapper).Unwrap().(*env) // under Make's gym.Enforced
}

func step(t testing.TB, e gym.Env, a string) gym.StepResult {
	t.Helper()
	r, err := e.Step(context.Background(), a)
	if err != nil {
		t.Fatalf("step %q: %v", a, err)
	}
	return r
}

// playOracle runs the oracle to the end and returns the last step.
func playOracle(t testing.TB, e *env, opts gym.ResetOptions) (gym.StepResult, int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Reset(ctx, opts); err != nil {
		t.Fatal(err)
	}
	for n := 1; ; n++ {
		a, err := e.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := step(t, e, a)
		if r.Status != gym.StatusOK {
			t.Fatalf("oracle action %q: %s: %s", a, r.Status, r.Observation.Text)
		}
		if r.Done() {
			return r, n
		}
	}
}

// TestOracleDefaultCorpus builds the default 20k-passage corpus and checks
// that the oracle answers 200 questions (50 of each hop count) exactly,
// finding every gold passage by search on the way.
func TestOracleDefaultCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the default 20k corpus")
	}
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, map[string]any{"cache_dir": t.TempDir()})
	if n := e.db.corpus.Len(); n != 20000 {
		t.Fatalf("default corpus has %d passages", n)
	}
	retrieved, gold := 0, 0
	for h := 1; h <= 4; h++ {
		for seed := range 50 {
			res, n := playOracle(t, e, gym.ResetOptions{Seed: int64(seed), TaskID: fmt.Sprintf("%dhop", h)})
			info := res.Observation.Info
			if !res.Terminated || info["em"] != 1.0 || info["success"] != true {
				t.Fatalf("%dhop seed %d: %s: em %v after %d steps: %s", h, seed, info["question_id"], info["em"], n, res.Observation.Text)
			}
			if n > e.cfg.maxSteps {
				t.Errorf("oracle took %d steps", n)
			}
			retrieved += info["gold_retrieved"].(int)
			gold += info["gold_total"].(int)
			if info["gold_opened"] != info["gold_total"] {
				t.Errorf("oracle opened %v of %v gold passages", info["gold_opened"], info["gold_total"])
			}
		}
	}
	t.Logf("oracle search retrieved %d of %d gold passages", retrieved, gold)
	if retrieved < gold*95/100 {
		t.Errorf("oracle search retrieved only %d of %d gold passages", retrieved, gold)
	}
}

func TestOracleSmallAllQuestions(t *testing.T) {
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, small("", nil))
	for i, q := range e.db.questions {
		res, _ := playOracle(t, e, gym.ResetOptions{Options: map[string]any{"question_id": q.ID}})
		if res.Observation.Info["em"] != 1.0 {
			t.Fatalf("question %d %q: em %v", i, q.Question, res.Observation.Info["em"])
		}
		// All process parts fire: one retrieve (unless missed), one open and
		// one judge per gold passage.
		ret := res.Observation.Info["return_parts"].(map[string]float64)
		if want := 0.1 * float64(q.Hops); !near(ret["open"], want) || !near(ret["judge"], 0.05*float64(q.Hops)) {
			t.Fatalf("question %d: return parts %v", i, ret)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestSharedAcrossInstances(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	a := makeEnv(t, r, FictionalID, small(dir, nil))
	b := makeEnv(t, r, FictionalID, small(dir, map[string]any{"top_k": 3}))
	if a.db != b.db {
		t.Fatal("two instances on one corpus hold two databases")
	}
	// Another registry (another process, say) reuses the index on disk.
	e := makeEnv(t, newRegistry(t), FictionalID, small(dir, nil))
	if e.db.index.Built {
		t.Fatal("index rebuilt although it was cached")
	}
}

func TestProcessRewardOncePerGold(t *testing.T) {
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, small("", nil))
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "2hop", Seed: 3}); err != nil {
		t.Fatal(err)
	}
	q := e.question()
	parts := func(res gym.StepResult) map[string]float64 {
		return res.Observation.Info["reward_parts"].(map[string]float64)
	}
	search := "search(" + quote(q.Queries[0]) + ")"
	first := step(t, e, search)
	if parts(first)["retrieve"] < 0.1 || first.Reward < 0.1 {
		t.Fatalf("first search for gold: parts %v reward %v\n%s", parts(first), first.Reward, first.Observation.Text)
	}
	again := step(t, e, search)
	if parts(again)["retrieve"] != 0 || again.Reward != 0 {
		t.Fatalf("repeated search: parts %v reward %v", parts(again), again.Reward)
	}
	// Judge: the results hold a gold passage, so useful is right.
	if res := step(t, e, "judge(not_useful)"); parts(res)["judge"] != 0 || res.Observation.Info["judge_correct"] != false {
		t.Fatalf("wrong judge rewarded: %v", res.Observation.Info)
	}
	if res := step(t, e, "judge(useful)"); res.Status != gym.StatusInvalidAction {
		t.Fatalf("second judge of one result: %s", res.Status)
	}
	gold := "open(" + q.SupportingIDs[0] + ")"
	if res := step(t, e, gold); parts(res)["open"] != 0.1 || res.Reward != 0.1 {
		t.Fatalf("first open of gold: %v reward %v", parts(res), res.Reward)
	}
	if res := step(t, e, "judge(useful)"); parts(res)["judge"] != 0.05 {
		t.Fatalf("correct judge: %v", res.Observation.Info)
	}
	if res := step(t, e, gold); parts(res)["open"] != 0 || res.Reward != 0 {
		t.Fatalf("second open of gold: %v reward %v", parts(res), res.Reward)
	}
	// A non-gold passage: no open reward, and useful is wrong.
	other := e.db.corpus.Docs[0].ID
	for e.gold[other] {
		other = e.db.corpus.Docs[1].ID
	}
	if res := step(t, e, "open("+other+")"); res.Reward != 0 {
		t.Fatalf("open of a non-gold passage rewarded %v", res.Reward)
	}
	if res := step(t, e, "judge(useful)"); res.Reward != 0 || res.Observation.Info["judge_correct"] != false {
		t.Fatalf("useful on a non-gold passage: %v", res.Observation.Info)
	}
	// Outcome-only: process parts stay in info but out of the reward.
	oe := makeEnv(t, r, FictionalID, small("", map[string]any{"process_rewards": false}))
	if _, err := oe.Reset(ctx, gym.ResetOptions{TaskID: "2hop", Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if res := step(t, oe, search); res.Reward != 0 || parts(res)["retrieve"] < 0.1 {
		t.Fatalf("outcome-only: reward %v parts %v", res.Reward, parts(res))
	}
	res := step(t, oe, "answer("+quote(q.Answers[0])+")")
	if res.Reward != 1 || !res.Terminated || res.Observation.Info["success"] != true {
		t.Fatalf("outcome-only answer: reward %v info %v", res.Reward, res.Observation.Info)
	}
}

func TestGarbageActionsAreInvalid(t *testing.T) {
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, small("", map[string]any{"max_steps": 200}))
	ctx := context.Background()
	if _, err := e.Reset(ctx, gym.ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	garbage := []string{
		"", "   ", "search", "search(", "search()", `search("")`, `search("unterminated)`,
		`search("a") trailing`, `search("a"`, "serch(\"kelmar\")", "(((", ")", "open()", "open(nope)",
		"open(d99999999)", "judge(maybe)", "judge(useful)", `answer("")`, "answer()", "42",
		"\xff\xfe", "search(\"\\u12\")", `search('x' 'y')`, strings.Repeat("a", 10000),
		"search(\"" + strings.Repeat("long ", 100) + "\")", "delete(everything)", "ANSWER",
		"{\"action\": \"search\"}", "search(\"\\", "open(" + strings.Repeat("(", 50),
	}
	for _, a := range garbage {
		res, err := e.Step(ctx, a)
		if err != nil {
			t.Fatalf("%q: error %v", a, err)
		}
		if res.Status != gym.StatusInvalidAction || res.Reward != 0 || res.Done() {
			t.Errorf("%q: status %s reward %v done %v", a, res.Status, res.Reward, res.Done())
		}
		if res.Observation.Info["error"] == "" || !strings.HasPrefix(res.Observation.Text, "Invalid action: ") {
			t.Errorf("%q: no explanation: %q", a, res.Observation.Text)
		}
	}
	// Forgiving forms parse.
	for _, a := range []string{`Search("Kelmar")`, "  search('it\\'s') ; ", "search(bare words here)", "`open(" + e.db.corpus.Docs[0].ID + ")`", `judge("not useful")`} {
		if res := step(t, e, a); res.Status != gym.StatusOK {
			t.Errorf("%q: %s: %s", a, res.Status, res.Observation.Text)
		}
	}
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{`search("a \"b\" c")`, "open(d001)", "judge(useful)", `answer('x\n')`, "search(\"\\u00e9\")", "((", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAction(s)
		if err == nil {
			// What parses round-trips through quote.
			b, err := parseAction(string(a.verb) + "(" + quote(a.arg) + ")")
			if err != nil || b != a {
				t.Fatalf("%q parsed to %+v, re-quoted to %+v (%v)", s, a, b, err)
			}
		}
	})
}

func TestMaxStepsTruncates(t *testing.T) {
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, small("", map[string]any{"max_steps": 3}))
	if e.Spec().MaxSteps != 3 {
		t.Fatalf("spec max steps %d", e.Spec().MaxSteps)
	}
	if _, err := e.Reset(context.Background(), gym.ResetOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	step(t, e, `search("a")`)
	step(t, e, "garbage")
	res := step(t, e, `search("b")`)
	if !res.Truncated || res.Terminated || res.Observation.Info["success"] != false {
		t.Fatalf("third of 3 steps: truncated %v info %v", res.Truncated, res.Observation.Info)
	}
}

func TestQueryLimitAndTopK(t *testing.T) {
	r := newRegistry(t)
	e := makeEnv(t, r, FictionalID, small("", map[string]any{"max_query_chars": 20, "top_k": 3}))
	if _, err := e.Reset(context.Background(), gym.ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := step(t, e, `search("this query is longer than twenty")`); res.Status != gym.StatusInvalidAction {
		t.Fatalf("long query: %s", res.Status)
	}
	res := step(t, e, `search("museum founded")`)
	if n := strings.Count(res.Observation.Text, "\n["); n != 3 {
		t.Fatalf("top_k 3 gave %d results:\n%s", n, res.Observation.Text)
	}
	va, _ := e.ValidActions(context.Background())
	if len(va) != 1+3+2+1 {
		t.Fatalf("valid actions %v", va)
	}
	for _, a := range va {
		if _, err := parseAction(a); err != nil {
			t.Errorf("valid action %q does not parse: %v", a, err)
		}
	}
}

func TestResetDeterministicAndSnapshot(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	a := makeEnv(t, r, FictionalID, small(dir, nil))
	b := makeEnv(t, r, FictionalID, small(dir, nil))
	ctx := context.Background()
	oa, _ := a.Reset(ctx, gym.ResetOptions{Seed: 42, TaskID: "3hop"})
	ob, _ := b.Reset(ctx, gym.ResetOptions{Seed: 42, TaskID: "3hop"})
	if oa.Text != ob.Text {
		t.Fatal("same seed, different questions")
	}
	if _, err := a.Reset(ctx, gym.ResetOptions{TaskID: "9hop"}); !errors.Is(err, gym.ErrUnknownTask) {
		t.Fatalf("unknown task: %v", err)
	}
	a.Reset(ctx, gym.ResetOptions{Seed: 42, TaskID: "3hop"})
	act, _ := a.OracleAction(ctx)
	step(t, a, act)
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	act, _ = a.OracleAction(ctx)
	want := step(t, a, act)
	if _, err := b.Restore(ctx, snap); err != nil {
		t.Fatal(err)
	}
	got := step(t, b, act)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restore:\n%+v\nwant\n%+v", got, want)
	}
	if caps := a.Spec().Capabilities; strings.Join(caps, ",") != "Oracle,Renderer,Snapshotter,ValidActioner" {
		t.Fatalf("capabilities %v", caps)
	}
}

func TestOptionErrors(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	for opts, want := range map[string]map[string]any{
		`unknown option "top-k"`:   {"top-k": 3},
		`option "top_k"`:           {"top_k": 99},
		`option "passages"`:        {"passages": "many"},
		`option "final_reward"`:    {"final_reward": "bleu"},
		`needs options "corpus"`:   nil,
		`option "process_rewards"`: {"process_rewards": "yes"},
	} {
		id := FictionalID
		if want == nil {
			id = CustomID
		}
		_, err := r.Make(ctx, id, want)
		if err == nil || !strings.Contains(err.Error(), opts) {
			t.Errorf("%v: error %v, want it to mention %s", want, err, opts)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodCorpus = `{"id": "a", "title": "Kelmar Institute", "text": "The Kelmar Institute was founded by Aren Voss in 1843."}
{"id": "b", "title": "Aren Voss", "text": "Aren Voss was a glassblower born in Tessaly."}

{"id": "c", "title": "Tessaly", "text": "Tessaly is a port city known for its bells.", "extra": 1}
`

const goodQuestions = `{"question": "Where was the founder of the Kelmar Institute born?", "answers": ["Tessaly"], "supporting_ids": ["a", "b"]}
{"id": "q2", "question": "Who founded the Kelmar Institute?", "answers": ["Aren Voss", "Voss"]}
`

func TestCustomCorpus(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t)
	e := makeEnv(t, r, CustomID, map[string]any{
		"corpus": writeFile(t, dir, "c.jsonl", goodCorpus), "questions": writeFile(t, dir, "q.jsonl", goodQuestions),
		"cache_dir": filepath.Join(dir, "cache"),
	})
	res, n := playOracle(t, e, gym.ResetOptions{Options: map[string]any{"question_id": "line-1"}})
	if res.Observation.Info["em"] != 1.0 || n != 7 {
		t.Fatalf("custom oracle: em %v in %d steps", res.Observation.Info["em"], n)
	}
	res, n = playOracle(t, e, gym.ResetOptions{Options: map[string]any{"question_id": "q2"}})
	if res.Observation.Info["em"] != 1.0 || n != 1 {
		t.Fatalf("custom oracle without supporting ids: em %v in %d steps", res.Observation.Info["em"], n)
	}
	// q2 gives no hop count, so it is only in "all".
	if tasks := e.Spec().Tasks; len(tasks) != 2 || tasks[0].ID != "all" || tasks[1].ID != "2hop" {
		t.Fatalf("tasks %v, want all and 2hop", tasks)
	}
}

func TestCustomImportErrors(t *testing.T) {
	tests := []struct {
		name, corpus, questions, want string
	}{
		{"bad json", goodCorpus + "{not json\n", goodQuestions, `c.jsonl:5: not a JSON object`},
		{"missing text", `{"id": "a", "title": "A", "text": "x"}` + "\n" + `{"id": "b", "title": "B"}`, goodQuestions, `c.jsonl:2: field "text": missing`},
		{"id not a string", `{"id": 7, "title": "A", "text": "x"}`, goodQuestions, `c.jsonl:1: field "id": want a string, got a number`},
		{"duplicate id", goodCorpus + `{"id": "a", "title": "A", "text": "x"}`, goodQuestions, `c.jsonl:5: field "id": duplicate id "a" (first on line 1)`},
		{"empty corpus", "\n\n", goodQuestions, `c.jsonl:0: no passages`},
		{"answers not a list", goodCorpus, `{"question": "Q?", "answers": "Tessaly"}`, `q.jsonl:1: field "answers": want an array of strings, got a string`},
		{"empty answers", goodCorpus, goodQuestions + `{"question": "Q?", "answers": []}`, `q.jsonl:3: field "answers": must not be empty`},
		{"unknown supporting id", goodCorpus, `{"question": "Q?", "answers": ["x"], "supporting_ids": ["a", "zz"]}`, `q.jsonl:1: field "supporting_ids[1]": no passage with id "zz"`},
		{"missing question", goodCorpus, `{"answers": ["x"]}`, `q.jsonl:1: field "question": missing`},
		{"bad hops", goodCorpus, `{"question": "Q?", "answers": ["x"], "hops": "two"}`, `q.jsonl:1: field "hops": must be a non-negative integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cache := filepath.Join(dir, "cache")
			_, err := newRegistry(t).Make(context.Background(), CustomID, map[string]any{
				"corpus": writeFile(t, dir, "c.jsonl", tt.corpus), "questions": writeFile(t, dir, "q.jsonl", tt.questions),
				"cache_dir": cache,
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tt.want)
			}
			if entries, _ := os.ReadDir(cache); len(entries) > 0 {
				t.Fatalf("failed import left %d entries in the cache", len(entries))
			}
		})
	}
}

// TestVectorOfInstances steps several instances on one shared index at
// once (run with -race).
func TestVectorOfInstances(t *testing.T) {
	r := newRegistry(t)
	var envs []gym.Env
	for range 4 {
		envs = append(envs, makeEnv(t, r, FictionalID, small("", nil)))
	}
	v := gym.NewVector(envs)
	defer v.Close()
	ctx := context.Background()
	if _, err := v.Reset(ctx, gym.ResetOptions{TaskID: "4hop"}); err != nil {
		t.Fatal(err)
	}
	done := 0
	for range 40 {
		actions := make([]string, v.Len())
		for i := range actions {
			a, err := v.Env(i).(gym.Oracle).OracleAction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			actions[i] = a
		}
		steps, err := v.Step(ctx, actions)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if s.Err != nil {
				t.Fatal(s.Err)
			}
			if s.Done() {
				done++
				if s.Observation.Info["em"] != 1.0 {
					t.Fatalf("oracle em %v", s.Observation.Info["em"])
				}
			}
		}
	}
	if done < 8 {
		t.Fatalf("only %d episodes finished", done)
	}
}
