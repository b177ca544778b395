// Package sites serves the local task sites of the web envs from memory:
// the MiniWoB-style task pages and, mounted by the caller, the shop. Pages
// are embedded; nothing is fetched from outside.
package sites

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Server is the loopback HTTP server of the task sites.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	mux   *http.ServeMux
	tasks map[string]*Task
	page  string // the task page shell with the shared scripts inlined
}

// Start listens on 127.0.0.1 (a free port) and serves until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sites: listen: %w", err)
	}
	s := &Server{ln: ln, mux: http.NewServeMux(), tasks: map[string]*Task{}}
	for _, t := range Tasks() {
		s.tasks[t.Name] = t
	}
	read := func(name string) string {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time: a missing file is a bug
		}
		return string(b)
	}
	// Inlining the shared CSS and scripts keeps a reset to one request.
	s.page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>{{TITLE}}</title><style>" + read("eg.css") +
		"</style></head><body><div id=\"query\" aria-hidden=\"true\">{{GOAL}}</div><div id=\"area\"></div><script>window.TASKNAME={{NAME}};window.TASK={{DATA}};</script><script>" +
		read("eg.js") + "\n" + read("tasks.js") + "</script></body></html>"
	s.mux.HandleFunc("GET /task/{name}", s.serveTask)
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Handle mounts another site (the shop) on the server.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Origin is "http://127.0.0.1:PORT".
func (s *Server) Origin() string { return "http://" + s.ln.Addr().String() }

// TaskURL is the page of task name drawn with seed.
func (s *Server) TaskURL(name string, seed int64) string {
	return s.Origin() + "/task/" + name + "?seed=" + strconv.FormatInt(seed, 10)
}

// ShellURL is the page of task name with no instance drawn yet: it renders
// nothing until BeginJS runs in it. The web envs load it ahead of an
// episode, in the episode's fresh browser context, and start the episode
// in the loaded page, which is then the page TaskURL serves.
func (s *Server) ShellURL(name string) string { return s.Origin() + "/task/" + name }

// BeginJS is the expression that turns a loaded ShellURL page into the
// page TaskURL(name, seed) serves: the same instance, goal and URL.
func BeginJS(t *Task, seed int64) (string, error) {
	in := t.Instance(seed)
	data, err := json.Marshal(in.Data)
	if err != nil {
		return "", fmt.Errorf("sites: %s: %w", t.Name, err)
	}
	goal, _ := json.Marshal(in.Goal)
	path, _ := json.Marshal("/task/" + t.Name + "?seed=" + strconv.FormatInt(seed, 10))
	return "EG.begin(" + string(data) + "," + string(goal) + "," + string(path) + ")", nil
}

// Task returns the task called name.
func (s *Server) Task(name string) (*Task, bool) { t, ok := s.tasks[name]; return t, ok }

// Close stops the server.
func (s *Server) Close(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sites: shutdown: %w", err)
	}
	return nil
}

func (s *Server) serveTask(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tasks[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, _ := json.Marshal(t.Name)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if !q.Has("seed") { // the shell: see ShellURL
		page := strings.NewReplacer("{{TITLE}}", html.EscapeString(t.Name), "{{GOAL}}", "",
			"{{NAME}}", scriptSafe(name), "{{DATA}}", "null").Replace(s.page)
		io.WriteString(w, page)
		return
	}
	seed, err := strconv.ParseInt(q.Get("seed"), 10, 64)
	if err != nil {
		http.Error(w, "seed must be an integer", http.StatusBadRequest)
		return
	}
	in := t.Instance(seed)
	data, err := json.Marshal(in.Data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Placeholders, not Fprintf: the inlined CSS and JS may contain '%'.
	page := strings.NewReplacer("{{TITLE}}", html.EscapeString(t.Name), "{{GOAL}}", html.EscapeString(in.Goal),
		"{{NAME}}", scriptSafe(name), "{{DATA}}", scriptSafe(data)).Replace(s.page)
	io.WriteString(w, page)
}

// scriptSafe keeps JSON from closing the inline <script>.
func scriptSafe(b []byte) string {
	return strings.ReplaceAll(string(b), "</", "<\\/")
}
