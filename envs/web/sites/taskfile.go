package sites

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// UserTask is a task on the user's own site, as written in a task file
// (web/open-v0): where to start, what the page may reach, what to ask,
// and JavaScript run in the page to set it up and judge it.
type UserTask struct {
	ID string `json:"id"`
	// Dir is the folder of the task file (set by LoadUserTasks, not read
	// from JSON): the files upload(id, "file") may use.
	Dir      string `json:"-"`
	StartURL string `json:"start_url"`
	// AllowedHosts is the network policy for every request of the
	// episode's pages: "host" (any port), "host:port", a URL, or
	// "*.example.com". Default: the host of start_url.
	AllowedHosts []string `json:"allowed_hosts"`
	Goal         string   `json:"goal"`
	// GoalJS reads the goal from the page after setup (an expression, or
	// a function body with return); it replaces Goal when it gives text.
	GoalJS string `json:"goal_js,omitempty"`
	// SetupJS runs in the page at every reset once the start page
	// settled; the variable seed holds the episode's seed. It may be
	// async and may navigate.
	SetupJS string `json:"setup_js,omitempty"`
	// Validator runs in the page after every step (an expression, or a
	// function body with return). It gives true/false (reward 1 and the
	// end, or nothing), a number (the reward; 1 ends the episode), or
	// {reward, done, message} with any reward in [-1, 1]. The variable
	// answer holds the agent's answer(...) text, or null. The reward is
	// paid on the step that ends the episode.
	Validator string `json:"validator"`
	// DoneJS optionally ends the episode when it gives true; the
	// validator's reward at that moment is the episode's.
	DoneJS string `json:"done_js,omitempty"`
	// Oracle optionally lists the actions of a scripted solution.
	Oracle []string `json:"oracle,omitempty"`
	// Permissions are granted to start_url's origin at every reset before
	// the page loads, by their Permissions API names (geolocation,
	// notifications, clipboard-read, ...); a headless browser grants
	// nothing else. Each episode's context starts without any.
	Permissions []string `json:"permissions,omitempty"`
}

// Permissions a task file may grant: the Permissions API names Chromium's
// Browser.setPermission takes.
var Permissions = []string{
	"accelerometer", "ambient-light-sensor", "background-sync", "camera", "clipboard-read", "clipboard-write",
	"geolocation", "gyroscope", "idle-detection", "local-fonts", "magnetometer", "microphone", "midi",
	"notifications", "payment-handler", "persistent-storage", "screen-wake-lock", "storage-access", "window-management",
}

// LoadUserTasks reads a task file: one task object or an array of them.
func LoadUserTasks(file string) ([]UserTask, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("task file: %w", err)
	}
	ts, err := ParseUserTasks(file, b)
	if err != nil {
		return nil, err
	}
	// upload(id, "file") takes files from the task file's folder.
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("task file: %w", err)
	}
	for i := range ts {
		ts[i].Dir = dir
	}
	return ts, nil
}

// ParseUserTasks parses and checks tasks read from source (a file name,
// or "option task"), naming the source, the task and the field of each
// problem.
func ParseUserTasks(source string, b []byte) ([]UserTask, error) {
	var tasks []UserTask
	dec := func(v any) error {
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		if err := dec(&tasks); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
	} else {
		var one UserTask
		if err := dec(&one); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		tasks = []UserTask{one}
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%s: no tasks", source)
	}
	for i, t := range tasks {
		where := fmt.Sprintf("%s: task %d", source, i)
		if t.ID != "" {
			where += " (" + t.ID + ")"
		}
		u, err := url.Parse(t.StartURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return nil, fmt.Errorf("%s: start_url %q must be an http(s) URL", where, t.StartURL)
		case strings.TrimSpace(t.Validator) == "":
			return nil, fmt.Errorf("%s: validator is required (JavaScript giving true/false, a reward, or {reward, done, message})", where)
		case t.Goal == "" && t.GoalJS == "":
			return nil, fmt.Errorf("%s: goal or goal_js is required", where)
		}
		for j, p := range t.Permissions {
			if !slices.Contains(Permissions, p) {
				return nil, fmt.Errorf("%s: permissions[%d] %q is not one of %s", where, j, p, strings.Join(Permissions, ", "))
			}
		}
		if len(t.AllowedHosts) == 0 {
			tasks[i].AllowedHosts = []string{u.Host}
		}
		if t.ID == "" {
			tasks[i].ID = strconv.Itoa(i)
		}
	}
	return tasks, nil
}

// fn is a page expression giving an async function of params (JS
// identifiers) that runs the user's snippet src: an expression's value,
// or a function body (statements, return) when src is not an expression.
// Runtime.evaluate allows the Function constructor even under a page's
// Content-Security-Policy.
func fn(src string, params ...string) string {
	q, _ := json.Marshal(src)
	ps := ""
	for _, p := range params {
		ps += strconv.Quote(p) + ", "
	}
	return "(() => { const AF = (async () => {}).constructor; try { return new AF(" + ps + "'return (' + " + string(q) + " + '\\n)'); } catch (e) { return new AF(" + ps + string(q) + "); } })()"
}

// SetupExpr is the page expression running t.SetupJS with seed.
func (t *UserTask) SetupExpr(seed int64) string {
	return fn(t.SetupJS, "seed") + "(" + strconv.FormatInt(seed, 10) + ")"
}

// GoalExpr is the page expression reading the goal (a string, "" when
// goal_js gave nothing).
func (t *UserTask) GoalExpr() string {
	return "(async () => { const g = await " + fn(t.GoalJS) + "(); return g == null ? '' : String(g); })()"
}

// Verdict is what the validator and done_js said about the page.
type Verdict struct {
	Reward  float64 `json:"reward"`
	Done    bool    `json:"done"`
	Message string  `json:"message"`
	By      string  `json:"by"`    // "validator" or "done_js" when Done
	Error   string  `json:"error"` // a snippet threw or gave a bad value
}

// JudgeExpr is the page expression running the validator (and done_js)
// with answer (JSON text: a string or null); it gives a Verdict.
func (t *UserTask) JudgeExpr(answer string) string {
	var b strings.Builder
	b.WriteString(`(async (answer) => {
const out = {reward: 0, done: false, message: "", by: "", error: ""};
try {
  const r = await ` + fn(t.Validator, "answer") + `(answer);
  if (r !== null && typeof r === "object") {
    out.reward = r.reward === undefined ? 0 : Number(r.reward);
    out.done = !!r.done;
    out.message = r.message == null ? "" : String(r.message);
  } else if (typeof r === "number") {
    out.reward = r; out.done = r >= 1;
  } else {
    out.reward = r ? 1 : 0; out.done = !!r;
  }
  if (!Number.isFinite(out.reward)) { out.error = "validator: reward " + String(out.reward) + " is not a number"; out.reward = 0; out.done = false; }
  else if (out.reward < -1 || out.reward > 1) { out.error = "validator: reward " + out.reward + " is outside [-1, 1]"; out.reward = Math.max(-1, Math.min(1, out.reward)); }
  if (out.done) out.by = "validator";
} catch (e) { out.error = "validator threw: " + (e && e.message ? e.message : String(e)); }
`)
	if strings.TrimSpace(t.DoneJS) != "" {
		b.WriteString(`if (!out.done) {
  try { if (await ` + fn(t.DoneJS) + `()) { out.done = true; out.by = "done_js"; } }
  catch (e) { out.error += (out.error ? "; " : "") + "done_js threw: " + (e && e.message ? e.message : String(e)); }
}
`)
	}
	b.WriteString("return out;\n})(" + answer + ")")
	return b.String()
}
