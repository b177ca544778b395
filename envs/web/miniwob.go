package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/envs/web/sites"
	"github.com/envgym/envgym/gym"
)

// miniwobMaxTime is the episode timer set at each reset, in ms, as
// BrowserGym does: MiniWoB++'s own (10 s, for humans) would end episodes
// of a slow agent.
const miniwobMaxTime = 1000000

// miniwobSite is one MiniWoB++ html folder served by the suite's loopback
// server under its own prefix.
type miniwobSite struct {
	prefix string // "/miniwob-sites/<id>/"
	tasks  []string
}

// miniwob mounts fsys (once per key) and returns it with its tasks.
func (s *Suite) miniwob(key string, fsys fs.FS, tasks []string) (*miniwobSite, string, error) {
	srv, _, err := s.server()
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.miniwobSites == nil {
		s.miniwobSites = map[string]*miniwobSite{}
	}
	if m, ok := s.miniwobSites[key]; ok {
		return m, srv.Origin(), nil
	}
	sum := sha256.Sum256([]byte(key))
	m := &miniwobSite{prefix: "/miniwob-sites/" + hex.EncodeToString(sum[:6]) + "/", tasks: tasks}
	srv.Handle("GET "+m.prefix, http.StripPrefix(strings.TrimSuffix(m.prefix, "/"), http.FileServerFS(fsys)))
	s.miniwobSites[key] = m
	return m, srv.Origin(), nil
}

// miniwobFactory makes web/miniwob-v0: MiniWoB++ tasks from the user's
// html folder (option miniwob_dir), or envgym's small look-alike.
func (s *Suite) miniwobFactory(spec gym.Spec) gym.Factory {
	return func(ctx context.Context, makeOpts map[string]any) (gym.Env, error) {
		fsys, key := sites.MiniWoBFixture(), "builtin"
		var tasks []string
		if v, ok := makeOpts["miniwob_dir"]; ok {
			dir, isStr := v.(string)
			if !isStr || dir == "" {
				return nil, fmt.Errorf("web: option miniwob_dir: expected the path of MiniWoB++'s html folder, got %v", v)
			}
			var err error
			if fsys, tasks, err = sites.MiniWoBDir(dir); err != nil {
				return nil, fmt.Errorf("web: option %w", err)
			}
			key = dir
		} else {
			var err error
			if tasks, err = sites.MiniWoBTasks(fsys); err != nil {
				return nil, err
			}
		}
		site, origin, err := s.miniwob(key, fsys, tasks)
		if err != nil {
			return nil, err
		}
		newEp := func(ctx context.Context, opts gym.ResetOptions) (episode, error) {
			name := opts.TaskID
			if name == "" {
				// No task named: the seed picks one, so a run of seeds
				// covers the suite.
				name = site.tasks[int(uint64(opts.Seed)%uint64(len(site.tasks)))]
			} else if !contains(site.tasks, name) {
				return nil, fmt.Errorf("%w %q: miniwob_dir has %s", gym.ErrUnknownTask, name, strings.Join(site.tasks, ", "))
			}
			return &miniwobEpisode{name: name, seed: opts.Seed, origin: origin,
				url: origin + site.prefix + "miniwob/" + url.PathEscape(name) + ".html"}, nil
		}
		// The instance's spec lists the folder's own tasks.
		ispec := spec
		ispec.Tasks = make([]gym.Task, len(site.tasks))
		for i, t := range site.tasks {
			ispec.Tasks[i] = gym.Task{ID: t, Description: "MiniWoB++ task " + t}
		}
		e := s.newEnv(ispec, newEp)
		e.noOracle = true // MiniWoB++ tasks come without solutions
		return e, nil
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// miniwobEpisode is one seeded episode of a MiniWoB++ task.
type miniwobEpisode struct {
	name, url, origin string
	seed              int64
	utterance         string
	ended             bool
}

func (m *miniwobEpisode) startURL() string     { return m.url }
func (m *miniwobEpisode) goal() string         { return m.utterance }
func (m *miniwobEpisode) answers() bool        { return false }
func (m *miniwobEpisode) hosts() browser.Hosts { return originHosts(m.origin) }
func (m *miniwobEpisode) oracle(*browser.Page) string {
	return "noop()" // unreachable: the env offers no Oracle
}
func (m *miniwobEpisode) info() map[string]any {
	return map[string]any{"task": m.name, "seed": m.seed}
}

func (m *miniwobEpisode) allowed(u *url.URL) error {
	if u.Scheme+"://"+u.Host != m.origin {
		return fmt.Errorf("goto: %s is outside the MiniWoB++ site", u.Host)
	}
	return nil
}

// miniwobStartJS takes the page from MiniWoB++'s human mode to an agent's
// episode, as BrowserGym does: the human display (query, reward and
// timer, click canvas, START cover) leaves the page, the core functions
// that redraw it are wrapped to take it away again, Math.random is
// seeded, the episode timer made long, and the episode started. It
// gives the utterance.
const miniwobStartJS = `(async (seed, maxTime) => {
if (typeof core === "undefined" || typeof core.startEpisodeReal !== "function")
  throw new Error("the page has no MiniWoB++ core (core.startEpisodeReal): is miniwob_dir MiniWoB++'s html folder?");
const ids = ["reward-display", "click-canvas", "sync-task-cover"];
const kept = {};
let query = null;
const hide = () => {
  core.clearTimer && core.clearTimer();
  if (core.canvasDrawClick) document.body.removeEventListener("click", core.canvasDrawClick);
  const q = document.getElementById("query");
  if (q) { query = q.cloneNode(true); q.innerHTML = ""; }
  for (const id of ids) { const el = document.getElementById(id); if (el) { kept[id] = el; el.remove(); } }
};
const show = () => {
  const q = document.getElementById("query");
  if (q && query) q.innerHTML = query.innerHTML;
  for (const id in kept) document.body.appendChild(kept[id]);
};
if (!core.__egymWrapped) {
  core.__egymWrapped = true;
  for (const f of ["getUtterance", "endEpisode", "startEpisodeReal"]) {
    const orig = core[f];
    core[f] = function () { show(); try { return orig.apply(core, arguments); } finally { hide(); } };
  }
}
hide();
Math.seedrandom(seed);
core.EPISODE_MAX_TIME = maxTime;
core.startEpisodeReal();
for (let i = 0; i < 500 && typeof WOB_TASK_READY !== "undefined" && !WOB_TASK_READY; i++)
  await new Promise(r => setTimeout(r, 10));
const u = core.getUtterance();
return typeof u === "string" ? u : (u && u.utterance) || "";
})`

// start seeds and starts the episode and reads the utterance.
func (m *miniwobEpisode) start(ctx context.Context, tab *browser.Tab, seed int64) error {
	expr := miniwobStartJS + "(" + strconv.FormatInt(seed, 10) + ", " + strconv.Itoa(miniwobMaxTime) + ")"
	u, err := browser.Eval[string](ctx, tab, expr)
	if err != nil && !errors.Is(err, browser.ErrDialog) {
		return fmt.Errorf("miniwob %s: start: %w", m.name, err)
	}
	m.utterance = u
	return nil
}

// miniwobState is what core.js records about the episode.
type miniwobState struct {
	Raw    float64 `json:"raw"`
	Reward float64 `json:"reward"`
	Done   bool    `json:"done"`
	Reason any     `json:"reason"`
}

// judge reads the episode's globals: the reward is the raw reward
// (WOB_RAW_REWARD_GLOBAL, in [-1, 1]) on the step done turns true.
func (m *miniwobEpisode) judge(ctx context.Context, tab *browser.Tab, _ *browser.Page, answer *string) (verdict, error) {
	st, err := browser.Eval[miniwobState](ctx, tab, `(typeof WOB_DONE_GLOBAL === "undefined") ? {raw: 0, reward: 0, done: false, reason: null} : {raw: WOB_RAW_REWARD_GLOBAL, reward: WOB_REWARD_GLOBAL, done: !!WOB_DONE_GLOBAL, reason: WOB_REWARD_REASON}`)
	if err != nil {
		return verdict{}, fmt.Errorf("web: miniwob state: %w", err)
	}
	if !st.Done || m.ended {
		return verdict{}, nil
	}
	m.ended = true
	v := verdict{reward: st.Raw, done: true, info: map[string]any{"success": st.Raw > 0, "wob_reward": st.Reward}}
	if st.Reason != nil {
		v.info["wob_reason"] = st.Reason
	}
	return v, nil
}
