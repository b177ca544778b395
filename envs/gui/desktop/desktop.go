// Package desktop is the desktop backend of the GUI envs: a real Xvfb
// running real X programs from Debian (xterm, xcalc, xedit), driven
// in-process over X11 with XTEST input, observed as PNG grabs of the root
// window. Validators read real state: the files in the episode's home
// directory, or the agent's answer against data the task wrote.
package desktop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/envgym/envgym/envs/gui/action"
	"github.com/envgym/envgym/envs/gui/turn"
	"github.com/envgym/envgym/gym"
)

// Screen size of the X server, the space of action coordinates.
const (
	Width  = 1024
	Height = 768
)

// MaxSteps is the step limit of every desktop task.
const MaxSteps = 20

// apps maps open_app names to programs and their fixed window geometry.
var apps = map[string][]string{
	"terminal":   {"xterm", "-geometry", "90x30+20+20", "-bg", "white", "-fg", "black", "-e", "/bin/bash", "--norc", "--noprofile"},
	"calculator": {"xcalc", "-geometry", "+700+40"},
	"editor":     {"xedit", "-geometry", "640x480+360+260", "-xrm", "*font: fixed"},
}

func appNames() []string {
	var out []string
	for k := range apps {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// episode is one seeded task instance: files to create, the goal, a
// validator over the home directory and the agent's answer, and the
// oracle's plan.
type episode struct {
	goal   string
	files  map[string]string
	answer bool
	check  func(home, answer string) bool
	plan   []action.Action
}

type task struct {
	id, desc string
	setup    func(r *rand.Rand) episode
}

var words = []string{"amber", "basil", "cedar", "delta", "ember", "fjord", "glade", "harbor", "indigo", "juniper", "koala", "lumen", "maple", "nectar", "orchid", "pepper"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func read(home, name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(home, name))
	return string(b), err == nil
}

func exists(home, name string) bool {
	_, err := os.Stat(filepath.Join(home, name))
	return err == nil
}

// shell is the oracle's plan for a terminal command.
func shell(cmd string) []action.Action {
	return []action.Action{
		{Type: action.OpenApp, AppName: "terminal"},
		{Type: action.InputText, Text: cmd, X: 300, Y: 200, HasXY: true},
		{Type: action.KeyboardEnter},
	}
}

// Where things are in the editor window (xedit at its fixed geometry,
// apps["editor"]): the file name field, the Load and Save buttons, and
// two points of the text area: its first character and the space below
// the text, where a click puts the cursor at the end.
var (
	xeditName  = [2]int{700, 269}
	xeditLoad  = [2]int{442, 269}
	xeditSave  = [2]int{409, 269}
	xeditStart = [2]int{382, 378}
	xeditEnd   = [2]int{700, 730}
)

// editor is the oracle's plan for an edit in xedit: load file (a missing
// file starts empty), type text at the point at, save.
func editor(file, text string, at [2]int) []action.Action {
	return []action.Action{
		{Type: action.OpenApp, AppName: "editor"},
		{Type: action.InputText, Text: file, X: xeditName[0], Y: xeditName[1], HasXY: true},
		{Type: action.Click, X: xeditLoad[0], Y: xeditLoad[1], HasXY: true},
		{Type: action.InputText, Text: text, X: at[0], Y: at[1], HasXY: true},
		{Type: action.Click, X: xeditSave[0], Y: xeditSave[1], HasXY: true},
	}
}

// lines is a seeded file of 2–4 word lines.
func lines(r *rand.Rand) string {
	var b strings.Builder
	for range 2 + r.IntN(3) {
		b.WriteString(pick(r, words) + " " + strconv.Itoa(r.IntN(100)) + "\n")
	}
	return b.String()
}

// nonEmpty is s without blank lines or trailing spaces: editors differ in
// whether a file ends with a newline, the task does not care.
func nonEmpty(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func tasks() []task {
	return []task{
		{id: "term-create-file", desc: "create a text file with given content", setup: func(r *rand.Rand) episode {
			name, w := pick(r, words)+".txt", pick(r, words)+strconv.Itoa(r.IntN(100))
			return episode{goal: fmt.Sprintf("Create a file named %s in the home directory containing the single line %s.", name, w),
				check: func(h, _ string) bool { s, ok := read(h, name); return ok && strings.TrimSpace(s) == w },
				plan:  shell(fmt.Sprintf("echo %s > %s", w, name))}
		}},
		{id: "term-mkdir", desc: "create a directory", setup: func(r *rand.Rand) episode {
			dir := pick(r, words) + "_" + strconv.Itoa(r.IntN(100))
			return episode{goal: fmt.Sprintf("Create a directory named %s in the home directory.", dir),
				check: func(h, _ string) bool { st, err := os.Stat(filepath.Join(h, dir)); return err == nil && st.IsDir() },
				plan:  shell("mkdir " + dir)}
		}},
		{id: "term-rename", desc: "rename a file", setup: func(r *rand.Rand) episode {
			a, b := pick(r, words[:8])+".txt", pick(r, words[8:])+".txt"
			body := pick(r, words) + "\n"
			return episode{goal: fmt.Sprintf("Rename %s to %s.", a, b), files: map[string]string{a: body, "other.txt": "x\n"},
				check: func(h, _ string) bool { s, ok := read(h, b); return ok && s == body && !exists(h, a) },
				plan:  shell(fmt.Sprintf("mv %s %s", a, b))}
		}},
		{id: "term-delete", desc: "delete one file and keep the others", setup: func(r *rand.Rand) episode {
			a := pick(r, words) + ".log"
			keep := "keep-" + pick(r, words) + ".log"
			return episode{goal: fmt.Sprintf("Delete the file %s, and nothing else.", a), files: map[string]string{a: "old\n", keep: "keep\n"},
				check: func(h, _ string) bool { return !exists(h, a) && exists(h, keep) },
				plan:  shell("rm " + a)}
		}},
		{id: "term-append", desc: "append a line to a file", setup: func(r *rand.Rand) episode {
			w := pick(r, words)
			orig := "first\nsecond\n"
			return episode{goal: fmt.Sprintf("Append the line %s to notes.txt, keeping its content.", w), files: map[string]string{"notes.txt": orig},
				check: func(h, _ string) bool { s, ok := read(h, "notes.txt"); return ok && s == orig+w+"\n" },
				plan:  shell(fmt.Sprintf("echo %s >> notes.txt", w))}
		}},
		{id: "term-copy", desc: "copy a file into a directory", setup: func(r *rand.Rand) episode {
			a := pick(r, words) + ".txt"
			body := pick(r, words) + " " + pick(r, words) + "\n"
			return episode{goal: fmt.Sprintf("Copy %s into the directory backup.", a), files: map[string]string{a: body, "backup/.keep": ""},
				check: func(h, _ string) bool {
					s, ok := read(h, filepath.Join("backup", a))
					o, ok2 := read(h, a)
					return ok && ok2 && s == body && o == body
				},
				plan: shell(fmt.Sprintf("cp %s backup/", a))}
		}},
		{id: "term-chmod", desc: "make a script executable", setup: func(r *rand.Rand) episode {
			name := pick(r, words) + ".sh"
			return episode{goal: fmt.Sprintf("Make %s executable by its owner.", name), files: map[string]string{name: "#!/bin/sh\necho hi\n"},
				check: func(h, _ string) bool {
					st, err := os.Stat(filepath.Join(h, name))
					return err == nil && st.Mode()&0o100 != 0
				},
				plan: shell("chmod u+x " + name)}
		}},
		{id: "term-count-lines", desc: "count the lines of a file and answer", setup: func(r *rand.Rand) episode {
			n := 5 + r.IntN(40)
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "%d,%s\n", i, pick(r, words))
			}
			want := strconv.Itoa(n)
			return episode{goal: "How many lines does data.csv have? Answer with the number.", files: map[string]string{"data.csv": b.String()}, answer: true,
				check: func(_, ans string) bool { return strings.TrimSpace(ans) == want },
				plan:  append(shell("wc -l data.csv"), action.Action{Type: action.Answer, Text: want})}
		}},
		{id: "editor-create", desc: "create a file with the text editor", setup: func(r *rand.Rand) episode {
			name, line := pick(r, words)+".txt", pick(r, words)+" "+pick(r, words)
			return episode{goal: fmt.Sprintf("Use the text editor to create %s containing the single line: %s", name, line),
				check: func(h, _ string) bool { s, ok := read(h, name); return ok && strings.TrimSpace(s) == line },
				plan:  editor(name, line+"\n", xeditEnd)}
		}},
		{id: "editor-append", desc: "add a line at the end of a file in the text editor", setup: func(r *rand.Rand) episode {
			orig, w := lines(r), pick(r, words)
			return episode{goal: fmt.Sprintf("Open list.txt in the text editor, add the line %s at its end and save it.", w), files: map[string]string{"list.txt": orig},
				check: func(h, _ string) bool { s, ok := read(h, "list.txt"); return ok && nonEmpty(s) == nonEmpty(orig+w) },
				plan:  editor("list.txt", w+"\n", xeditEnd)}
		}},
		{id: "editor-prepend", desc: "add a first line to a file in the text editor", setup: func(r *rand.Rand) episode {
			orig, w := lines(r), "TODO "+pick(r, words)
			return episode{goal: fmt.Sprintf("Open todo.txt in the text editor, insert the line %q as its first line and save it.", w), files: map[string]string{"todo.txt": orig},
				check: func(h, _ string) bool {
					s, ok := read(h, "todo.txt")
					return ok && nonEmpty(s) == nonEmpty(w+"\n"+orig)
				},
				plan: editor("todo.txt", w+"\n", xeditStart)}
		}},
		{id: "calc-multiply", desc: "multiply two numbers with xcalc and answer", setup: func(r *rand.Rand) episode {
			a, b := 12+r.IntN(80), 12+r.IntN(80)
			want := strconv.Itoa(a * b)
			return episode{goal: fmt.Sprintf("Use the calculator to compute %d × %d and answer the result.", a, b), answer: true,
				check: func(_, ans string) bool { return strings.TrimSpace(ans) == want },
				plan: []action.Action{{Type: action.OpenApp, AppName: "calculator"},
					{Type: action.InputText, Text: fmt.Sprintf("%d*%d=", a, b), X: 760, Y: 60, HasXY: true},
					{Type: action.Answer, Text: want}}}
		}},
	}
}

// TaskIDs lists the desktop tasks.
func TaskIDs() []gym.Task {
	var out []gym.Task
	for _, t := range tasks() {
		out = append(out, gym.Task{ID: t.id, Description: t.desc})
	}
	return out
}

// Env is one desktop: its own Xvfb, programs and home directory.
type Env struct {
	spec  gym.Spec
	tasks []task
	a11y  bool

	d        *display
	procs    []*exec.Cmd
	home     string
	base     string
	episodes int
	task     task
	ep       episode
	plan     int
	turn     turn.Episode
	reset    bool
	closed   bool
}

// New makes a desktop env; the X server starts on the first Reset.
// opts: "a11y" (bool, default true: the text lists open windows).
func New(spec gym.Spec, opts map[string]any) (*Env, error) {
	e := &Env{spec: spec, tasks: tasks(), a11y: true}
	if err := e.applyOptions(opts); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) applyOptions(opts map[string]any) error {
	for k, v := range opts {
		switch k {
		case "a11y":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("desktop: option a11y: want a bool, got %T", v)
			}
			e.a11y = b
		default:
			return fmt.Errorf("desktop: unknown option %q (want a11y)", k)
		}
	}
	return nil
}

// Spec implements gym.Env.
func (e *Env) Spec() gym.Spec { return e.spec }

// XPID is the Xvfb process id, 0 when none runs (tests kill it).
func (e *Env) XPID() int {
	if e.d == nil || !e.d.alive() {
		return 0
	}
	return e.d.cmd.Process.Pid
}

func (e *Env) killProcs() {
	for _, c := range e.procs {
		if c.Process != nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
		}
	}
	e.procs = nil
}

// Reset implements gym.Env: it kills the episode's programs, rebuilds the
// home directory and restarts Xvfb only when it died.
func (e *Env) Reset(ctx context.Context, opts gym.ResetOptions) (gym.Observation, error) {
	if e.closed {
		return gym.Observation{}, gym.ErrClosed
	}
	if err := e.applyOptions(opts.Options); err != nil {
		return gym.Observation{}, err
	}
	t := e.tasks[0]
	if opts.TaskID != "" {
		i := slices.IndexFunc(e.tasks, func(t task) bool { return t.id == opts.TaskID })
		if i < 0 {
			return gym.Observation{}, fmt.Errorf("%w: %q", gym.ErrUnknownTask, opts.TaskID)
		}
		t = e.tasks[i]
	}
	e.killProcs()
	if e.d != nil && !e.d.alive() {
		e.d.close()
		e.d = nil
	}
	if e.d == nil {
		d, err := startDisplay(ctx)
		if err != nil {
			return gym.Observation{}, err
		}
		e.d = d
	}
	if e.base == "" {
		dir, err := os.MkdirTemp("", "envgym-desktop-")
		if err != nil {
			return gym.Observation{}, fmt.Errorf("desktop: home: %w", err)
		}
		e.base = dir
	}
	// A fresh home per episode: a shell of the last episode that is still
	// exiting cannot write into the new one.
	if e.home != "" {
		os.RemoveAll(e.home)
	}
	e.episodes++
	e.home = filepath.Join(e.base, "home"+strconv.Itoa(e.episodes))
	if err := os.MkdirAll(e.home, 0o755); err != nil {
		return gym.Observation{}, fmt.Errorf("desktop: home: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte(t.id))
	ep := t.setup(rand.New(rand.NewPCG(uint64(opts.Seed), h.Sum64())))
	for name, body := range ep.files {
		p := filepath.Join(e.home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return gym.Observation{}, fmt.Errorf("desktop: task files: %w", err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return gym.Observation{}, fmt.Errorf("desktop: task files: %w", err)
		}
	}
	e.task, e.ep, e.plan, e.reset = t, ep, 0, true
	e.turn = turn.Episode{AnswerTask: ep.answer}
	obs, err := e.observe(20 * time.Millisecond)
	if err != nil {
		return gym.Observation{}, err
	}
	e.turn.Last = obs
	return obs, nil
}

func (e *Env) observe(settle time.Duration) (gym.Observation, error) {
	png, err := e.d.settle(settle)
	if err != nil {
		return gym.Observation{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Goal: %s\nScreen: %dx%d pixels (X desktop). Apps: %s. Step %d of %d.\n", e.ep.goal, Width, Height, strings.Join(appNames(), ", "), e.turn.Steps, MaxSteps)
	if e.a11y {
		ws, err := e.d.windows()
		if err != nil {
			return gym.Observation{}, err
		}
		b.WriteString("Windows:\n")
		for i, w := range ws {
			line, _ := json.Marshal(w)
			fmt.Fprintf(&b, "Window %d: %s\n", i, line)
		}
	}
	return gym.Observation{Text: b.String(), Screenshot: png, Info: map[string]any{"task": e.task.id, "width": Width, "height": Height}}, nil
}

// Step implements gym.Env (gym.Enforced keeps the call order).
func (e *Env) Step(ctx context.Context, act string) (gym.StepResult, error) {
	return e.turn.Step(ctx, screen{e}, act)
}

// screen is the desktop's side of a step (turn.Screen).
type screen struct{ e *Env }

func (s screen) Parse(act string) (action.Action, error) {
	a, err := action.Parse(act, Width, Height)
	if err == nil && a.Type == action.OpenApp {
		if _, ok := apps[strings.ToLower(a.AppName)]; !ok {
			err = &action.Error{Field: "app_name", Msg: fmt.Sprintf("unknown app %q; want one of %s", a.AppName, strings.Join(appNames(), ", "))}
		}
	}
	return a, err
}

func (s screen) Exec(ctx context.Context, a action.Action) error {
	if !s.e.d.alive() {
		return ErrCrashed
	}
	return s.e.exec(ctx, a)
}

func (s screen) Observe(_ context.Context, answer string) (gym.Observation, bool, error) {
	obs, err := s.e.observe(300 * time.Millisecond)
	if err != nil {
		return obs, false, err
	}
	return obs, s.e.ep.check(s.e.home, answer), nil
}

func (s screen) Failure(ctx context.Context, err error) (gym.StepResult, error) {
	return s.e.failure(ctx, err)
}

func (e *Env) failure(ctx context.Context, err error) (gym.StepResult, error) {
	if ctx.Err() != nil {
		return gym.StepResult{}, err
	}
	st := gym.StatusEnvError
	if errors.Is(err, ErrCrashed) || !e.d.alive() {
		st = gym.StatusCrashed
	}
	return gym.Failed(st, fmt.Errorf("the desktop failed: %w", err)), nil
}

func (e *Env) exec(ctx context.Context, a action.Action) error {
	d := e.d
	switch a.Type {
	case action.Click:
		return d.click(a.X, a.Y, 1, 1)
	case action.DoubleTap:
		return d.click(a.X, a.Y, 1, 2)
	case action.LongPress:
		return d.press(a.X, a.Y, 500*time.Millisecond)
	case action.Scroll:
		x, y := Width/2, Height/2
		if a.HasXY {
			x, y = a.X, a.Y
		}
		button := map[string]byte{"up": 4, "down": 5, "left": 6, "right": 7}[a.Direction]
		return d.click(x, y, button, 3)
	case action.Swipe:
		x0, y0, x1, y1 := action.SwipeVector(a, Width, Height)
		return d.drag(x0, y0, x1, y1)
	case action.InputText:
		if a.HasXY {
			if err := d.click(a.X, a.Y, 1, 1); err != nil {
				return err
			}
		}
		before := e.prompts()
		if err := d.typeText(a.Text); err != nil {
			if d.alive() {
				return &action.Error{Field: "text", Msg: err.Error()}
			}
			return d.wrap(err)
		}
		if strings.Contains(a.Text, "\n") {
			e.awaitShell(ctx, before)
		}
		return nil
	case action.KeyboardEnter:
		before := e.prompts()
		if err := d.key(ksReturn); err != nil {
			return err
		}
		if err := d.sync(); err != nil {
			return err
		}
		e.awaitShell(ctx, before)
		return nil
	case action.NavigateBack:
		if err := d.key(ksEscape); err != nil {
			return err
		}
		return d.sync()
	case action.NavigateHome:
		d.move(Width-1, Height-1)
		return d.sync()
	case action.OpenApp:
		return e.launch(ctx, strings.ToLower(a.AppName))
	case action.Wait:
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// shellWait bounds how long a step waits for a terminal's command to end.
const shellWait = 2 * time.Second

// promptFile is where the terminals' shells mark each prompt they print:
// a byte per prompt, appended by PROMPT_COMMAND.
func (e *Env) promptFile() string { return filepath.Join(e.base, "prompts") }

// prompts counts the prompts printed so far by this env's shells.
func (e *Env) prompts() int64 {
	st, err := os.Stat(e.promptFile())
	if err != nil {
		return 0
	}
	return st.Size()
}

// awaitShell waits, after Enter was sent to a terminal, until its shell
// prints the next prompt: the command has ended, so the step's reward
// does not depend on how fast the machine ran it (replays of oracle
// episodes otherwise differed under load). Keys sent to other windows do
// not wait; a command still running after shellWait is left running.
func (e *Env) awaitShell(ctx context.Context, before int64) {
	if !strings.Contains(e.d.pointerClass(), "XTerm") {
		return
	}
	e.waitPrompt(ctx, before)
}

func (e *Env) waitPrompt(ctx context.Context, before int64) {
	deadline := time.Now().Add(shellWait)
	for e.prompts() <= before && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// launch starts an app and waits until its window is mapped (and, for the
// terminal, until its shell prints its first prompt).
func (e *Env) launch(ctx context.Context, name string) error {
	before, err := e.d.windows()
	if err != nil {
		return err
	}
	prompts := e.prompts()
	argv := apps[name]
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = e.home
	cmd.Env = append(os.Environ(), "DISPLAY=:"+strconv.Itoa(e.d.num), "HOME="+e.home, "PS1=$ ", "SHELL=/bin/bash", "HISTFILE=",
		"PROMPT_COMMAND=printf . >>"+strconv.Quote(e.promptFile()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("desktop: launch %s: %w", argv[0], err)
	}
	e.procs = append(e.procs, cmd)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ws, err := e.d.windows()
		if err != nil {
			return err
		}
		if len(ws) > len(before) {
			if name == "terminal" {
				e.waitPrompt(ctx, prompts)
			}
			time.Sleep(30 * time.Millisecond) // first paint
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("desktop: %s opened no window", argv[0])
}

// Screenshot implements gym.Screenshotter.
func (e *Env) Screenshot(ctx context.Context) ([]byte, error) {
	if e.d == nil {
		return nil, gym.ErrNotReset
	}
	return e.d.snapshot()
}

// OracleAction implements gym.Oracle: the task's scripted plan, then
// waits until the validator sees the goal done.
func (e *Env) OracleAction(ctx context.Context) (string, error) {
	if !e.reset {
		return "", gym.ErrNotReset
	}
	if e.plan >= len(e.ep.plan) {
		return action.Action{Type: action.Wait}.String(), nil
	}
	a := e.ep.plan[e.plan]
	e.plan++
	return a.String(), nil
}

// Close implements gym.Env: it kills the programs and Xvfb and removes the
// home directory.
func (e *Env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	e.killProcs()
	if e.d != nil {
		e.d.close()
		e.d = nil
	}
	if e.base != "" {
		os.RemoveAll(e.base)
	}
	return nil
}
