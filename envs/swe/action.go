package swe

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// action is a parsed tool call: name("string", 12, ...).
type action struct {
	Name string
	Args []any // string or int
}

const maxActionBytes = 256 << 10

var arity = map[string][2]int{ // min, max arguments
	"bash": {1, 1}, "view": {1, 3}, "create": {2, 2}, "str_replace": {3, 3},
	"insert": {3, 3}, "undo_edit": {1, 1}, "search": {1, 2}, "run_tests": {0, 0}, "submit": {0, 0},
}

// parseAction parses a Go-call-like action; strings are Go literals
// ("..." with escapes or `raw`).
func parseAction(s string) (action, error) {
	if len(s) > maxActionBytes {
		return action{}, fmt.Errorf("action longer than %d bytes", maxActionBytes)
	}
	e, err := parser.ParseExpr(s)
	if err != nil {
		return action{}, fmt.Errorf("not a tool call like view(\"file.go\"): %w", err)
	}
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return action{}, fmt.Errorf("not a tool call like view(\"file.go\")")
	}
	id, ok := call.Fun.(*ast.Ident)
	if !ok {
		return action{}, fmt.Errorf("tool name must be a plain identifier")
	}
	ar, ok := arity[id.Name]
	if !ok {
		return action{}, fmt.Errorf("unknown tool %q (have bash, view, create, str_replace, insert, undo_edit, search, run_tests, submit)", id.Name)
	}
	if len(call.Args) < ar[0] || len(call.Args) > ar[1] {
		return action{}, fmt.Errorf("%s takes %d to %d arguments, got %d", id.Name, ar[0], ar[1], len(call.Args))
	}
	a := action{Name: id.Name}
	for i, arg := range call.Args {
		lit, ok := arg.(*ast.BasicLit)
		if !ok {
			return action{}, fmt.Errorf("%s argument %d: want a string or integer literal", id.Name, i+1)
		}
		switch lit.Kind {
		case token.STRING:
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return action{}, fmt.Errorf("%s argument %d: %w", id.Name, i+1, err)
			}
			a.Args = append(a.Args, v)
		case token.INT:
			v, err := strconv.Atoi(lit.Value)
			if err != nil {
				return action{}, fmt.Errorf("%s argument %d: %w", id.Name, i+1, err)
			}
			a.Args = append(a.Args, v)
		default:
			return action{}, fmt.Errorf("%s argument %d: want a string or integer literal", id.Name, i+1)
		}
	}
	return a, nil
}

func (a action) str(i int) (string, error) {
	s, ok := a.Args[i].(string)
	if !ok {
		return "", fmt.Errorf("%s argument %d: want a string", a.Name, i+1)
	}
	return s, nil
}

func (a action) int(i int) (int, error) {
	n, ok := a.Args[i].(int)
	if !ok {
		return 0, fmt.Errorf("%s argument %d: want an integer", a.Name, i+1)
	}
	return n, nil
}
