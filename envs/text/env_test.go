package text

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

var ids = []string{MazeID, CorridorID}

func newTestEnv(t testing.TB, id string, opts map[string]any) *Env {
	t.Helper()
	e, err := New(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func reset(t testing.TB, e *Env, task string, seed int64) gym.Observation {
	t.Helper()
	obs, err := e.Reset(context.Background(), gym.ResetOptions{Seed: seed, TaskID: task})
	if err != nil {
		t.Fatalf("reset %s seed %d: %v", task, seed, err)
	}
	return obs
}

func step(t testing.TB, e gym.Env, action string) gym.StepResult {
	t.Helper()
	r, err := e.Step(context.Background(), action)
	if err != nil {
		t.Fatalf("step %q: %v", action, err)
	}
	return r
}

// playOracle follows the oracle to the end of the episode.
func playOracle(t testing.TB, e *Env) []gym.StepResult {
	t.Helper()
	var out []gym.StepResult
	for {
		a, err := e.OracleAction(context.Background())
		if err != nil {
			t.Fatalf("oracle after %d steps: %v", len(out), err)
		}
		r := step(t, e, a)
		if r.Status != gym.StatusOK {
			t.Fatalf("oracle action %q: status %v: %v", a, r.Status, r.Observation.Info["error"])
		}
		out = append(out, r)
		if r.Done() {
			return out
		}
	}
}

func taskIDsOf(e *Env) []string {
	var out []string
	for _, task := range e.Spec().Tasks {
		out = append(out, task.ID)
	}
	return out
}

func TestSpec(t *testing.T) {
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if got := reg.IDs(); !slices.Equal(got, []string{CorridorID, MazeID}) {
		t.Fatalf("ids = %v", got)
	}
	for _, s := range reg.Specs() {
		if s.Version != Version || !s.Deterministic || len(s.Tasks) < 3 || s.MaxSteps != 200 ||
			s.Description == "" || s.ObservationSpace == "" || s.ActionSpace == "" {
			t.Errorf("%s: incomplete spec %+v", s.ID, s)
		}
		want := []string{"Oracle", "Renderer", "Snapshotter", "ValidActioner"}
		if !slices.Equal(s.Capabilities, want) {
			t.Errorf("%s: capabilities %v, want %v", s.ID, s.Capabilities, want)
		}
	}
	if err := Register(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestOracleSolvesEveryTask(t *testing.T) {
	for _, id := range ids {
		e := newTestEnv(t, id, nil)
		for _, task := range e.tasks {
			t.Run(id+"/"+task.id, func(t *testing.T) {
				longest := 0
				for seed := range int64(20) {
					reset(t, e, task.id, seed)
					pairs := e.lv.pairs()
					rs := playOracle(t, e)
					last := rs[len(rs)-1]
					total := 0.0
					for _, r := range rs {
						total += r.Reward
					}
					if !last.Terminated || last.Truncated || last.Observation.Info["success"] != true {
						t.Fatalf("seed %d: not solved: %+v", seed, last)
					}
					// Every door is on the way, so every key and door pays.
					if want := goalReward + float64(pairs)*(keyReward+doorReward); math.Abs(total-want) > 1e-9 {
						t.Errorf("seed %d: return %v, want %v", seed, total, want)
					}
					longest = max(longest, len(rs))
				}
				t.Logf("longest oracle episode: %d of %d steps", longest, task.maxSteps)
			})
		}
	}
}

// TestLevelsSolvable checks many more seeds on the level alone: the plan
// must fit well inside the step limit, and the goal must need every door.
func TestLevelsSolvable(t *testing.T) {
	for _, id := range ids {
		e := newTestEnv(t, id, nil)
		for i := range e.tasks {
			task := &e.tasks[i]
			longest := 0
			for seed := range int64(500) {
				lv := generate(id, task, seed)
				plan, _, ok := lv.solve(state{pos: lv.start})
				if !ok {
					t.Fatalf("%s/%s seed %d: unsolvable", id, task.id, seed)
				}
				if lv.pairs() != task.pairs && !(task.nested && lv.pairs() == 2*task.pairs) {
					t.Fatalf("%s/%s seed %d: %d pairs", id, task.id, seed, lv.pairs())
				}
				opens := 0
				for _, m := range plan {
					if !m.isGo() && !m.isTake() {
						opens++
					}
				}
				if opens != lv.pairs() {
					t.Errorf("%s/%s seed %d: shortest plan opens %d of %d doors", id, task.id, seed, opens, lv.pairs())
				}
				longest = max(longest, len(plan))
			}
			if longest > task.maxSteps*3/4 {
				t.Errorf("%s/%s: longest plan %d steps is too close to the limit %d", id, task.id, longest, task.maxSteps)
			}
		}
	}
}

func TestEmptyTaskIsFirst(t *testing.T) {
	for _, id := range ids {
		a, b := newTestEnv(t, id, nil), newTestEnv(t, id, nil)
		if reset(t, a, "", 7).Text != reset(t, b, taskIDsOf(b)[0], 7).Text {
			t.Errorf("%s: empty task differs from the first task", id)
		}
	}
}

// trace is everything an agent can observe from one step.
type trace struct {
	Text       string
	Valid      []string
	Info       map[string]any
	Reward     float64
	Status     gym.Status
	Terminated bool
	Truncated  bool
}

func traceOf(r gym.StepResult) trace {
	return trace{r.Observation.Text, r.Observation.ValidActions, r.Observation.Info, r.Reward, r.Status, r.Terminated, r.Truncated}
}

// playScript plays n actions chosen by a seeded policy that mixes valid,
// invalid and oracle actions, and returns what was observed.
func playScript(t *testing.T, e *Env, policySeed uint64, n int) []trace {
	t.Helper()
	rng := rand.New(rand.NewPCG(policySeed, 1))
	junk := []string{"go up", "dance", "open door", "take key", "GO NORTH", " w ", "look"}
	var out []trace
	for range n {
		valid, err := e.ValidActions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var a string
		switch rng.IntN(4) {
		case 0:
			a = junk[rng.IntN(len(junk))]
		case 1:
			if a, err = e.OracleAction(context.Background()); err != nil {
				t.Fatal(err)
			}
		default:
			a = valid[rng.IntN(len(valid))]
		}
		r := step(t, e, a)
		out = append(out, traceOf(r))
		if r.Done() {
			break
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	for _, id := range ids {
		for _, task := range taskIDsOf(newTestEnv(t, id, nil)) {
			t.Run(id+"/"+task, func(t *testing.T) {
				renders := map[string]bool{}
				for seed := range int64(20) {
					a, b := newTestEnv(t, id, nil), newTestEnv(t, id, nil)
					oa, ob := reset(t, a, task, seed), reset(t, b, task, seed)
					if !reflect.DeepEqual(oa, ob) {
						t.Fatalf("seed %d: first observations differ", seed)
					}
					ta, tb := playScript(t, a, uint64(seed), 300), playScript(t, b, uint64(seed), 300)
					if !reflect.DeepEqual(ta, tb) {
						t.Fatalf("seed %d: traces differ", seed)
					}
					// The same env reset again replays the same episode.
					reset(t, a, task, seed)
					if tc := playScript(t, a, uint64(seed), 300); !reflect.DeepEqual(ta, tc) {
						t.Fatalf("seed %d: trace after a second reset differs", seed)
					}
					reset(t, a, task, seed)
					r, err := a.Render(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					renders[r] = true
				}
				if len(renders) < 15 {
					t.Errorf("only %d distinct layouts in 20 seeds", len(renders))
				}
			})
		}
	}
}

func TestInvalidActions(t *testing.T) {
	garbage := []struct{ name, action, why string }{
		{"empty", "", "empty"},
		{"blank", " \t\n ", "empty"},
		{"too long", strings.Repeat("go north ", 200), "limit is 1000"},
		{"binary", "\xff\xfe\x00go", "UTF-8"},
		{"nul bytes", "\x00\x01\x02", "cannot understand"},
		{"unicode", "aller au nord ☃", "cannot understand"},
		{"cjk", "北に行く", "cannot understand"},
		{"fullwidth", "ｇｏ ｎｏｒｔｈ", "cannot understand"},
		{"go nowhere", "go", "where to go"},
		{"go up", "go up", "where to go"},
		{"unknown verb", "dance", "cannot understand"},
		{"injection", "go north; rm -rf /", "where to go"},
		{"take nothing", "take", "which key"},
		{"pick without up", "pick red key", "pick up"},
		{"unknown colour key", "take pink key", `no "pink" key`},
		{"unknown colour door", "open pink door", `no "pink" door`},
		{"door nowhere", "open door sideways", "which door"},
		{"look at", "look at the ceiling", "cannot understand"},
	}
	for _, id := range ids {
		e := newTestEnv(t, id, nil)
		for _, task := range taskIDsOf(e) {
			reset(t, e, task, 1)
			for _, g := range garbage {
				before, steps := e.st, e.steps
				r := step(t, e, g.action)
				if r.Status != gym.StatusInvalidAction || r.Reward != 0 || r.Done() {
					t.Errorf("%s/%s %s: got status %v reward %v done %v", id, task, g.name, r.Status, r.Reward, r.Done())
				}
				why, _ := r.Observation.Info["error"].(string)
				if !strings.Contains(why, g.why) || !strings.HasPrefix(r.Observation.Text, "Invalid action: ") {
					t.Errorf("%s/%s %s: error %q, want it to mention %q", id, task, g.name, why, g.why)
				}
				if len(r.Observation.ValidActions) == 0 {
					t.Errorf("%s/%s %s: no valid actions", id, task, g.name)
				}
				if e.st != before || e.steps != steps+1 {
					t.Errorf("%s/%s %s: state changed", id, task, g.name)
				}
			}
		}
	}
}

// TestParserAgreesWithValidActions walks oracle episodes and checks, in
// every state, that each go/take/open action for every direction and
// colour is accepted exactly when ValidActions lists it, and that
// rejected ones leave the state alone.
func TestParserAgreesWithValidActions(t *testing.T) {
	ctx := context.Background()
	for _, id := range ids {
		e := newTestEnv(t, id, nil)
		for _, task := range taskIDsOf(e) {
			for seed := range int64(5) {
				reset(t, e, task, seed)
				for !e.done {
					valid, _ := e.ValidActions(ctx)
					var probes []string
					for _, d := range dirNames {
						probes = append(probes, "go "+d)
					}
					for _, c := range e.lv.colors {
						probes = append(probes, "take "+c+" key", "open "+c+" door")
					}
					for _, p := range probes {
						snap, err := e.Snapshot(ctx)
						if err != nil {
							t.Fatal(err)
						}
						before := e.st
						r := step(t, e, p)
						if ok := r.Status == gym.StatusOK; ok != slices.Contains(valid, p) {
							t.Fatalf("%s/%s seed %d: %q gave %v but valid actions are %v", id, task, seed, p, r.Status, valid)
						}
						if r.Status == gym.StatusInvalidAction && e.st != before {
							t.Fatalf("%s/%s seed %d: invalid %q changed the state", id, task, seed, p)
						}
						if _, err := e.Restore(ctx, snap); err != nil {
							t.Fatal(err)
						}
					}
					a, _ := e.OracleAction(ctx)
					step(t, e, a)
				}
			}
		}
	}
}

func TestActionSpellings(t *testing.T) {
	e := newTestEnv(t, MazeID, nil)
	reset(t, e, "easy", 0)
	// Find the first state where a key lies in the room.
	for e.lv.keyCell[0] != e.st.pos {
		a, _ := e.OracleAction(context.Background())
		step(t, e, a)
	}
	colour := e.lv.colors[0]
	for _, a := range []string{"take " + colour + " key", "  TAKE   " + strings.ToUpper(colour) + "  Key ", "take the " + colour + " key.",
		"pick up " + colour + " key", "get " + colour, "grab key"} {
		snap, _ := e.Snapshot(context.Background())
		if r := step(t, e, a); r.Status != gym.StatusOK || r.Reward != keyReward {
			t.Errorf("%q: status %v reward %v: %v", a, r.Status, r.Reward, r.Observation.Info["error"])
		}
		if r := step(t, e, a); r.Status != gym.StatusInvalidAction {
			t.Errorf("%q twice: status %v", a, r.Status)
		}
		e.Restore(context.Background(), snap)
	}
	for _, a := range []string{"look", "LOOK", " l ", "inventory", "look around"} {
		before := e.st
		if r := step(t, e, a); r.Status != gym.StatusOK || r.Reward != 0 || e.st != before {
			t.Errorf("%q: status %v reward %v", a, r.Status, r.Reward)
		}
	}
	valid, _ := e.ValidActions(context.Background())
	for _, d := range dirNames {
		want := slices.Contains(valid, "go "+d)
		for _, a := range []string{d, d[:1], "Go " + strings.ToUpper(d), "walk " + d} {
			snap, _ := e.Snapshot(context.Background())
			if r := step(t, e, a); (r.Status == gym.StatusOK) != want {
				t.Errorf("%q: status %v, valid %v", a, r.Status, valid)
			}
			e.Restore(context.Background(), snap)
		}
	}
}

func TestOpenDoorWithoutKey(t *testing.T) {
	e := newTestEnv(t, MazeID, nil)
	for seed := range int64(20) {
		reset(t, e, "medium", seed)
		// Walk the plan until a locked door is next to us with its key not
		// yet held, then check both ways of getting through fail.
		for !e.done {
			for d := north; d <= west; d++ {
				j := e.lv.doorAt[e.st.pos][d]
				if j < 0 || e.st.held&(1<<j) != 0 {
					continue
				}
				before := e.st
				for _, a := range []string{"open " + e.lv.colors[j] + " door", "go " + dirNames[d], "open " + dirNames[d] + " door"} {
					r := step(t, e, a)
					why, _ := r.Observation.Info["error"].(string)
					if r.Status != gym.StatusInvalidAction || !strings.Contains(why, e.lv.colors[j]+" key") || e.st != before {
						t.Fatalf("seed %d %q: status %v error %q", seed, a, r.Status, why)
					}
				}
			}
			if e.done {
				break
			}
			a, _ := e.OracleAction(context.Background())
			step(t, e, a)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	for _, id := range ids {
		for _, task := range taskIDsOf(newTestEnv(t, id, nil)) {
			e := newTestEnv(t, id, nil)
			reset(t, e, task, 11)
			for range 3 {
				a, _ := e.OracleAction(ctx)
				step(t, e, a)
			}
			snap, err := e.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			view, _ := e.ValidActions(ctx)
			want := playScript(t, e, 5, 400)

			// Restore into the same env, and into a fresh one never reset.
			for name, target := range map[string]*Env{"same": e, "fresh": newTestEnv(t, id, nil)} {
				obs, err := target.Restore(ctx, snap)
				if err != nil {
					t.Fatalf("%s/%s %s: %v", id, task, name, err)
				}
				if !slices.Equal(obs.ValidActions, view) {
					t.Errorf("%s/%s %s: restored valid actions %v, want %v", id, task, name, obs.ValidActions, view)
				}
				if got := playScript(t, target, 5, 400); !reflect.DeepEqual(got, want) {
					t.Errorf("%s/%s %s: replay after restore differs", id, task, name)
				}
			}
		}
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, MazeID, nil)
	reset(t, e, "hard", 2)
	good, _ := e.Snapshot(ctx)
	before := e.st
	other := newTestEnv(t, CorridorID, nil)
	reset(t, other, "easy", 2)
	foreign, _ := other.Snapshot(ctx)
	for name, b := range map[string]string{
		"garbage":      "\x00not json",
		"empty":        "",
		"other env":    string(foreign),
		"old version":  strings.Replace(string(good), Version, "0.0.1", 1),
		"unknown task": strings.Replace(string(good), `"hard"`, `"nightmare"`, 1),
		"pos off grid": strings.Replace(string(good), `"pos":`, `"pos":1000`, 1),
		"bogus keys":   strings.Replace(string(good), `"held":0`, `"held":65535`, 1),
		"open no key":  strings.Replace(string(good), `"open":0`, `"open":1`, 1),
	} {
		if _, err := e.Restore(ctx, []byte(b)); err == nil {
			t.Errorf("%s: restore succeeded", name)
		}
		if e.st != before {
			t.Errorf("%s: failed restore changed the state", name)
		}
	}
}

// TestContractErrors: the call order as users meet it, through the
// registry (gym.Enforced guards it; the env itself has no guard), and the
// env's own errors (unknown task or option, a cancelled context).
func TestContractErrors(t *testing.T) {
	ctx := context.Background()
	e := madeEnv(t, MazeID, nil)
	or, _ := gym.Capable[gym.Oracle](e)
	rd, _ := gym.Capable[gym.Renderer](e)
	sn, _ := gym.Capable[gym.Snapshotter](e)
	if or == nil || rd == nil || sn == nil {
		t.Fatalf("capabilities %v", gym.Capabilities(e))
	}
	if _, err := e.Step(ctx, "look"); !errors.Is(err, gym.ErrNotReset) {
		t.Errorf("step before reset: %v", err)
	}
	if _, err := or.OracleAction(ctx); !errors.Is(err, gym.ErrNotReset) {
		t.Errorf("oracle before reset: %v", err)
	}
	if _, err := rd.Render(ctx); !errors.Is(err, gym.ErrNotReset) {
		t.Errorf("render before reset: %v", err)
	}
	_, err := e.Reset(ctx, gym.ResetOptions{TaskID: "nightmare"})
	if !errors.Is(err, gym.ErrUnknownTask) || !strings.Contains(err.Error(), "easy, medium, hard") {
		t.Errorf("unknown task: %v", err)
	}
	if _, err := e.Reset(ctx, gym.ResetOptions{Options: map[string]any{"size": 3}}); err == nil || !strings.Contains(err.Error(), `"size"`) {
		t.Errorf("unknown reset option: %v", err)
	}

	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "easy"}); err != nil {
		t.Fatal(err)
	}
	for {
		a, err := or.OracleAction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r := step(t, e, a); r.Done() {
			if !r.Success() {
				t.Fatalf("oracle episode ended without success: %+v", r)
			}
			break
		}
	}
	if _, err := e.Step(ctx, "look"); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Errorf("step after done: %v", err)
	}
	if _, err := or.OracleAction(ctx); !errors.Is(err, gym.ErrEpisodeDone) {
		t.Errorf("oracle after done: %v", err)
	}

	if _, err := e.Reset(ctx, gym.ResetOptions{TaskID: "easy"}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Step(cancelled, "look"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled step: %v", err)
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := e.Step(ctx, "look"); !errors.Is(err, gym.ErrClosed) {
		t.Errorf("step after close: %v", err)
	}
	if _, err := e.Reset(ctx, gym.ResetOptions{}); !errors.Is(err, gym.ErrClosed) {
		t.Errorf("reset after close: %v", err)
	}
	if _, err := sn.Snapshot(ctx); !errors.Is(err, gym.ErrClosed) {
		t.Errorf("snapshot after close: %v", err)
	}
}

// madeEnv is id as a registry serves it: gym.Enforced applies the
// step limit the spec lists per task.
func madeEnv(t *testing.T, id string, opts map[string]any) gym.Env {
	t.Helper()
	reg := gym.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	env, err := reg.Make(context.Background(), id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

func TestTruncation(t *testing.T) {
	for _, id := range ids {
		e := madeEnv(t, id, nil)
		for _, task := range newTestEnv(t, id, nil).tasks {
			if _, err := e.Reset(context.Background(), gym.ResetOptions{TaskID: task.id, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			var r gym.StepResult
			for i := range task.maxSteps {
				if r = step(t, e, []string{"look", "xyzzy"}[i%2]); r.Done() != (i == task.maxSteps-1) {
					t.Fatalf("%s/%s: done=%v at step %d", id, task.id, r.Done(), i+1)
				}
			}
			if !r.Truncated || r.Terminated || r.Success() {
				t.Errorf("%s/%s: last step %+v", id, task.id, r)
			}
			if _, err := e.Step(context.Background(), "look"); !errors.Is(err, gym.ErrEpisodeDone) {
				t.Errorf("%s/%s: step after truncation: %v", id, task.id, err)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	e := madeEnv(t, CorridorID, map[string]any{"max_steps": float64(5)})
	if e.Spec().MaxSteps != 5 || gym.StepLimit(e.Spec(), "hard") != 5 {
		t.Errorf("spec max steps %d, hard's %d", e.Spec().MaxSteps, gym.StepLimit(e.Spec(), "hard"))
	}
	if _, err := e.Reset(context.Background(), gym.ResetOptions{TaskID: "hard"}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		step(t, e, "look")
	}
	if r := step(t, e, "look"); !r.Truncated {
		t.Error("max_steps option ignored")
	}
	reg := gym.NewRegistry()
	Register(reg)
	for _, opts := range []map[string]any{{"colour": "red"}, {"max_steps": -1}, {"max_steps": 2.5}, {"max_steps": "ten"}} {
		_, err := reg.Make(context.Background(), MazeID, opts)
		if err == nil {
			t.Errorf("%v: accepted", opts)
			continue
		}
		for k := range opts {
			if !strings.Contains(err.Error(), `"`+k+`"`) {
				t.Errorf("%v: error %q does not name the option", opts, err)
			}
		}
	}
}

// TestRandomBelowOracle checks the hard tasks are not solved by chance: a
// uniform policy over valid actions must do clearly worse than the oracle.
func TestRandomBelowOracle(t *testing.T) {
	for _, id := range ids {
		e := madeEnv(t, id, nil) // the step limit is the registry's
		const episodes = 100
		wins := 0
		rng := rand.New(rand.NewPCG(42, 0))
		for seed := range int64(episodes) {
			obs, err := e.Reset(context.Background(), gym.ResetOptions{TaskID: "hard", Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			for {
				r := step(t, e, obs.ValidActions[rng.IntN(len(obs.ValidActions))])
				if r.Done() {
					if r.Terminated {
						wins++
					}
					break
				}
				obs = r.Observation
			}
		}
		rate := float64(wins) / episodes
		t.Logf("%s hard: random policy success %.2f (oracle 1.00)", id, rate)
		if rate > 0.3 {
			t.Errorf("%s hard: random policy succeeds %.0f%% of the time", id, 100*rate)
		}
	}
}

func TestRender(t *testing.T) {
	e := newTestEnv(t, CorridorID, nil)
	reset(t, e, "hard", 4)
	r, err := e.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(r, "\n")
	if len(lines) != 2*e.lv.h+3 || strings.Count(r, "@") != 2 || !strings.Contains(r, "*") || !strings.Contains(r, "###") {
		t.Errorf("unexpected render:\n%s", r)
	}
	for _, l := range lines[:2*e.lv.h+1] {
		if len(l) != 4*e.lv.w+1 {
			t.Errorf("ragged line %q", l)
		}
	}
}

func BenchmarkStep(b *testing.B) {
	for _, id := range ids {
		b.Run(id+"/hard", func(b *testing.B) {
			e := newTestEnv(b, id, nil)
			ctx := context.Background()
			obs := reset(b, e, "hard", 0)
			seed := int64(0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r, err := e.Step(ctx, obs.ValidActions[i%len(obs.ValidActions)])
				if err != nil {
					b.Fatal(err)
				}
				obs = r.Observation
				if r.Done() {
					seed++
					obs = reset(b, e, "hard", seed)
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "steps/s")
			b.ReportMetric(sec*1e6/float64(b.N), "µs/step")
		})
	}
}
