package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHTTP sends arbitrary requests to the HTTP API of a server over the
// text envs; "{sid}" in the path stands for a live session. No request
// may panic the server or get anything but a JSON answer below 500.
func FuzzHTTP(f *testing.F) {
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/envs", `{"env_id":"text/maze-v0"}`},
		{"POST", "/v1/envs", `{"env_id":"text/maze-v0","options":{"max_steps":3}}`},
		{"POST", "/v1/envs", `{"env_id":"nope/x-v0"}`},
		{"POST", "/v1/envs", `{"env_id":1}`},
		{"POST", "/v1/envs/{sid}/reset", `{"seed":3,"task_id":"hard"}`},
		{"POST", "/v1/envs/{sid}/reset", `{"task_id":"hrd"}`},
		{"POST", "/v1/envs/{sid}/step", `{"action":"go north"}`},
		{"POST", "/v1/envs/{sid}/step", `{"action":null}`},
		{"POST", "/v1/envs/{sid}/step", `{"action":"look"} trailing`},
		{"DELETE", "/v1/envs/{sid}", ``},
		{"GET", "/v1/envs", ``},
		{"GET", "/v1/specs", ``},
		{"GET", "/healthz", ``},
		{"PUT", "/v1/envs/../x", `{`},
	} {
		f.Add(c.method, c.path, c.body)
	}
	reg := textRegistry(f)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		s := New(reg, Config{Token: "tok"})
		defer s.Close()
		h := s.Handler()
		do := func(method, path, body string) *httptest.ResponseRecorder {
			req, err := http.NewRequest(method, "http://envgym"+path, strings.NewReader(body))
			if err != nil {
				return nil
			}
			req.RemoteAddr = "127.0.0.1:9"
			req.Header.Set("Authorization", "Bearer tok")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}
		made := do("POST", "/v1/envs", `{"env_id":"text/corridor-v0"}`)
		var m makeResponse
		if err := json.Unmarshal(made.Body.Bytes(), &m); err != nil || made.Code != 201 {
			t.Fatalf("make: %d %s", made.Code, made.Body)
		}
		do("POST", "/v1/envs/"+m.SessionID+"/reset", `{"seed":1}`)
		w := do(method, strings.ReplaceAll(path, "{sid}", m.SessionID), body)
		if w == nil {
			return // not a request a client could send
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s %q: invalid JSON answer %q", method, path, body, w.Body)
		}
	})
}

// FuzzStreamLines feeds arbitrary lines to one stream connection's
// handler: every answer is JSON-encodable, errors carry a code, and the
// connection's session is released at the end.
func FuzzStreamLines(f *testing.F) {
	for _, s := range []string{
		"{\"op\":\"auth\",\"token\":\"tok\"}\n{\"op\":\"make\",\"env_id\":\"text/maze-v0\"}\n{\"op\":\"reset\",\"seed\":2}\n{\"op\":\"step\",\"action\":\"go east\"}\n{\"op\":\"close\"}",
		"{\"op\":\"make\",\"env_id\":\"text/maze-v0\"}",
		"{\"op\":\"auth\",\"token\":\"bad\"}",
		"{\"op\":\"auth\",\"token\":\"tok\",\"client\":\"c\"}\n{\"op\":\"step\",\"action\":\"x\"}\n{\"op\":\"reset\"}",
		"{\"op\":\"auth\",\"token\":\"tok\"}\n{\"op\":\"make\",\"env_id\":\"text/corridor-v0\",\"options\":{\"max_steps\":\"x\"}}",
		"{\"op\":\"auth\",\"token\":\"tok\"}\n{\"op\":\"make\",\"env_id\":\"text/maze-v0\"}\n{\"op\":\"make\",\"env_id\":\"text/maze-v0\"}\n{\"op\":\"reset\",\"task_id\":\"nope\"}\n{\"op\":\"step\"}",
		"{\"op\":\"fly\"}", "{", "[]", "null", "{\"op\":\"step\",\"action\":1}",
	} {
		f.Add(s)
	}
	reg := textRegistry(f)
	f.Fuzz(func(t *testing.T, input string) {
		s := New(reg, Config{Token: "tok"})
		defer s.Close()
		client := "" // not yet authenticated
		var sess *session
		for i, line := range bytes.Split([]byte(input), []byte("\n")) {
			if i == 32 {
				break
			}
			resp := s.handleLine(context.Background(), line, "127.0.0.1:1234", &client, &sess)
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("line %q: answer does not encode: %v", line, err)
			}
			if resp.Error != "" && (resp.Code < 400 || resp.Code >= 500) {
				t.Fatalf("line %q: error %q with code %d", line, resp.Error, resp.Code)
			}
			if resp.Closed {
				break
			}
		}
		if sess != nil {
			s.closeSession(sess)
		}
		if n := s.Sessions(); n != 0 {
			t.Fatalf("%d sessions left after the connection closed", n)
		}
	})
}
