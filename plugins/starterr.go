package plugins

import (
	"fmt"
	"path/filepath"
	"strings"
)

// StartError is a plugin that did not start. It leads with what the
// plugin itself printed (a Python traceback, a Go panic), with the
// installed copy's paths turned back into the source's, then a hint for
// the causes newcomers meet; go-plugin's generic handshake text is left
// out. Err is the underlying error.
type StartError struct {
	Plugin string
	Stderr string
	Hint   string
	Err    error
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s did not start", e.Plugin)
	if e.Stderr == "" {
		fmt.Fprintf(&b, " and printed nothing: %s", firstLineOf(e.Err.Error()))
	} else {
		b.WriteString("; it printed:\n  " + strings.ReplaceAll(strings.TrimRight(e.Stderr, "\n"), "\n", "\n  "))
	}
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// startError builds the StartError of p from go-plugin's error and the
// plugin's stderr.
func (p *Plugin) startError(err error) error {
	stderr := strings.TrimSpace(p.stderr.String())
	installed := filepath.Dir(p.m.Path())
	if p.m.Source != "" && len(p.m.Interpreter) > 0 {
		stderr = strings.ReplaceAll(stderr, installed+string(filepath.Separator), filepath.Dir(p.m.Source)+string(filepath.Separator))
	}
	e := &StartError{Plugin: p.m.Name, Stderr: stderr, Err: err}
	interp := strings.Join(p.m.Interpreter, " ")
	switch {
	case strings.Contains(stderr, "No module named 'envgym'"):
		e.Hint = "hint: the envgym package must sit next to main.py: `PYTHONPATH=sdk/python python3 -m envgym vendor DIR` copies it there (gym init python does it for a new env)"
	case strings.Contains(stderr, "No module named 'grpc'") || strings.Contains(stderr, "No module named 'google"):
		e.Hint = fmt.Sprintf("hint: %s lacks grpcio or protobuf; Debian's /usr/bin/python3 has them (apt-get install python3-grpcio python3-protobuf): install the plugin with --interpreter /usr/bin/python3", interp)
	case strings.Contains(stderr, "SyntaxError") || strings.Contains(stderr, "Traceback"):
		e.Hint = "hint: fix the error above, then install the plugin again (gym plugin reinstall " + p.m.Name + ")"
	case strings.Contains(stderr, "panic:"):
		e.Hint = "hint: the plugin's main panicked before serving: fix it, rebuild, and install it again (gym plugin reinstall " + p.m.Name + ")"
	case stderr == "":
		e.Hint = "hint: an envgym plugin's main calls sdk.Serve or sdk.ServeEnv (Python: envgym.serve); check that the file is one, built for this machine"
	}
	return e
}
