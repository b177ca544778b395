// Package view serves recorded trajectories and training runs as a local
// web page (gym view): runs → episodes → a step-by-step timeline, two runs
// compared seed by seed and step against step, and training curves.
// Everything the page needs is embedded; the server reads episodes from
// disk on demand, so large runs open at once.
package view

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed assets
var assets embed.FS

// Server holds the runs and training folders given on the command line.
type Server struct {
	runs   []*Run
	byID   map[string]*Run
	trains []*Train
	tByID  map[string]*Train
}

// New opens every path: a trajectory file (FILE.jsonl or its manifest),
// a `gym train --out` folder, or a folder of trajectory files.
func New(paths []string) (*Server, error) {
	s := &Server{byID: map[string]*Run{}, tByID: map[string]*Train{}}
	if len(paths) == 0 {
		return nil, errors.New("view: no runs given: name trajectory files (FILE.jsonl) or `gym train --out` folders")
	}
	addRun := func(path, group string) error {
		r, err := OpenRun(fmt.Sprintf("r%d", len(s.runs)), path)
		if err != nil {
			return err
		}
		r.Group = group
		s.runs = append(s.runs, r)
		s.byID[r.ID] = r
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			alt := strings.TrimSuffix(p, ".manifest.jsonl") + ".jsonl"
			if _, err2 := os.Stat(trajectoryManifest(alt)); err2 == nil {
				if err := addRun(alt, ""); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("view: %w", err)
		}
		if !st.IsDir() {
			if err := addRun(p, ""); err != nil {
				return nil, err
			}
			continue
		}
		group := ""
		if IsTrainDir(p) {
			t, err := OpenTrain(fmt.Sprintf("t%d", len(s.trains)), p)
			if err != nil {
				return nil, err
			}
			s.trains = append(s.trains, t)
			s.tByID[t.ID] = t
			group = t.ID
		}
		files := trajectoryFiles(p)
		if len(files) == 0 && group == "" {
			return nil, fmt.Errorf("view: %s holds no trajectory files (*.jsonl) and no metrics.jsonl", p)
		}
		for _, f := range files {
			if err := addRun(f, group); err != nil {
				return nil, err
			}
			if group != "" {
				t := s.tByID[group]
				t.Runs = append(t.Runs, s.runs[len(s.runs)-1].ID)
			}
		}
	}
	return s, nil
}

func trajectoryManifest(stepsPath string) string {
	return strings.TrimSuffix(stepsPath, ".jsonl") + ".manifest.jsonl"
}

// Runs returns the opened runs.
func (s *Server) Runs() []*Run { return s.runs }

// Handler serves the page and its JSON API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := fs.ReadFile(static, "index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})
	mux.HandleFunc("GET /api/runs", s.listRuns)
	mux.HandleFunc("GET /api/runs/{run}/episodes", s.episodes)
	mux.HandleFunc("GET /api/runs/{run}/episodes/{ep}", s.episode)
	mux.HandleFunc("GET /api/runs/{run}/files/{path...}", s.file)
	mux.HandleFunc("GET /api/compare", s.compare)
	mux.HandleFunc("GET /api/compare/episodes", s.compareEpisodes)
	mux.HandleFunc("GET /api/trains/{train}", s.train)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "no such API path: "+r.URL.Path)
	})
	return mux
}

type trainSummary struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Dir     string   `json:"dir"`
	Runs    []string `json:"runs"`
	Iters   int      `json:"iters"`
	Notices []Notice `json:"notices"`
}

func (s *Server) listRuns(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Runs   []RunSummary   `json:"runs"`
		Trains []trainSummary `json:"trains"`
	}{Runs: []RunSummary{}, Trains: []trainSummary{}}
	for _, r := range s.runs {
		out.Runs = append(out.Runs, r.Summary())
	}
	for _, t := range s.trains {
		out.Trains = append(out.Trains, trainSummary{ID: t.ID, Name: t.Name, Dir: t.Dir, Runs: nonNil(t.Runs), Iters: t.Iters, Notices: nonNil(t.Notices)})
	}
	reply(w, out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) run(w http.ResponseWriter, id string) *Run {
	r, ok := s.byID[id]
	if !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("no run %q (this viewer has %d)", id, len(s.runs)))
	}
	return r
}

func (s *Server) episodes(w http.ResponseWriter, req *http.Request) {
	r := s.run(w, req.PathValue("run"))
	if r == nil {
		return
	}
	q := req.URL.Query()
	atoi := func(k string) int { n, _ := strconv.Atoi(q.Get(k)); return n }
	reply(w, r.Episodes(Query{
		Offset: atoi("offset"), Limit: atoi("limit"), Sort: q.Get("sort"), Desc: q.Get("desc") == "1",
		Success: q.Get("success"), Status: q.Get("status"), Task: q.Get("task"), Text: q.Get("q"),
	}))
}

func (s *Server) episode(w http.ResponseWriter, req *http.Request) {
	r := s.run(w, req.PathValue("run"))
	if r == nil {
		return
	}
	d, err := r.Episode(req.PathValue("ep"))
	if errors.Is(err, ErrNoEpisode) {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	reply(w, d)
}

// file serves a screenshot recorded by a run: images only, and only from
// the run's folder.
func (s *Server) file(w http.ResponseWriter, req *http.Request) {
	r := s.run(w, req.PathValue("run"))
	if r == nil {
		return
	}
	rel := req.PathValue("path")
	switch strings.ToLower(filepath.Ext(rel)) {
	case ".png", ".jpg", ".jpeg":
	default:
		fail(w, http.StatusBadRequest, "only recorded screenshots are served")
		return
	}
	path := r.file(rel)
	if _, err := os.Stat(path); err != nil {
		fail(w, http.StatusNotFound, fmt.Sprintf("screenshot %s is missing", rel))
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeFile(w, req, path)
}

func (s *Server) compare(w http.ResponseWriter, req *http.Request) {
	a, b := s.pair(w, req)
	if a == nil {
		return
	}
	c := Compare(a, b)
	c.A, c.B = a.Summary(), b.Summary()
	reply(w, struct {
		Comparison
		SummaryA RunSummary `json:"summary_a"`
		SummaryB RunSummary `json:"summary_b"`
	}{c, c.A, c.B})
}

func (s *Server) pair(w http.ResponseWriter, req *http.Request) (*Run, *Run) {
	q := req.URL.Query()
	a := s.run(w, q.Get("a"))
	if a == nil {
		return nil, nil
	}
	b := s.run(w, q.Get("b"))
	if b == nil {
		return nil, nil
	}
	return a, b
}

func (s *Server) compareEpisodes(w http.ResponseWriter, req *http.Request) {
	a, b := s.pair(w, req)
	if a == nil {
		return
	}
	q := req.URL.Query()
	da, err := a.Episode(q.Get("ea"))
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	db, err := b.Episode(q.Get("eb"))
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	reply(w, struct {
		A     EpisodeDetail `json:"a"`
		B     EpisodeDetail `json:"b"`
		First Difference    `json:"first_difference"`
	}{da, db, FirstDifference(da.Steps, db.Steps)})
}

func (s *Server) train(w http.ResponseWriter, req *http.Request) {
	t, ok := s.tByID[req.PathValue("train")]
	if !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("no training run %q", req.PathValue("train")))
		return
	}
	var runs []RunSummary
	for _, id := range t.Runs {
		runs = append(runs, s.byID[id].Summary())
	}
	reply(w, struct {
		ID      string             `json:"id"`
		Name    string             `json:"name"`
		Dir     string             `json:"dir"`
		X       string             `json:"x"`
		Series  map[string][]Point `json:"series"`
		Report  map[string]any     `json:"report"`
		Runs    []RunSummary       `json:"runs"`
		Notices []Notice           `json:"notices"`
	}{t.ID, t.Name, t.Dir, t.X, t.Series, t.Report, nonNil(runs), nonNil(t.Notices)})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// LocalOnly refuses requests whose Host is not a loopback name, so a web
// page elsewhere cannot read the trajectories through DNS rebinding while
// the viewer listens on the loopback interface.
func LocalOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
			fail(w, http.StatusForbidden, fmt.Sprintf("host %q refused: gym view answers only to loopback names (start it with --addr to listen elsewhere)", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}
