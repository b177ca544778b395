package swe

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// mutation is one source change at a byte span of one file.
type mutation struct {
	File     string // relative to the repo
	Off, End int
	New      string
	Kind     string

	// Schema form (schema.go): the span [SOff, SEnd) of the original
	// is replaced by Wrap, with idMark standing for the mutant's id, so
	// that many mutants share one test binary and this one is active
	// only when ENVGYM_SWE_MUTANT is its id. Wrap never changes the
	// number of lines, so positions in test output stay true. Empty
	// Wrap: the mutant is validated on its own.
	SOff, SEnd int
	Wrap       string
}

// idMark stands for the mutant id in mutation.Wrap.
const idMark = "\x00"

var flipOp = map[token.Token]string{
	token.LSS: "<=", token.LEQ: "<", token.GTR: ">=", token.GEQ: ">",
	token.EQL: "!=", token.NEQ: "==", token.LAND: "||", token.LOR: "&&",
}

// mutations lists, in source order, the mutations the operators offer in
// one non-test Go file.
func mutations(file string, src []byte) []mutation {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	text := func(n ast.Node) string { return string(src[off(n.Pos()):off(n.End())]) }
	var out []mutation
	add := func(kind string, from, to token.Pos, repl string) {
		out = append(out, mutation{File: file, Off: off(from), End: off(to), New: repl, Kind: kind})
	}
	// schema sets the last mutation's schema form over node n.
	schema := func(n ast.Node, wrap string) {
		m := &out[len(out)-1]
		m.SOff, m.SEnd, m.Wrap = off(n.Pos()), off(n.End()), wrap
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if r, ok := flipOp[n.Op]; ok {
				kind := "flip comparison"
				if n.Op == token.LAND || n.Op == token.LOR {
					kind = "swap logical operator"
				}
				add(kind, n.OpPos, n.OpPos+token.Pos(len(n.Op.String())), r)
				// Both forms are written out, so only one-line
				// expressions keep the line count.
				if old := text(n); !strings.Contains(old, "\n") {
					mut := string(src[off(n.Pos()):off(n.OpPos)]) + r + string(src[off(n.OpPos)+len(n.Op.String()):off(n.End())])
					schema(n, "(envgymMut != "+idMark+" && ("+old+") || envgymMut == "+idMark+" && ("+mut+"))")
				}
			}
			for _, side := range []ast.Expr{n.X, n.Y} {
				if lit, ok := side.(*ast.BasicLit); ok && lit.Kind == token.INT {
					if v, err := strconv.Atoi(lit.Value); err == nil && v < 1000 {
						add("off by one", lit.Pos(), lit.End(), strconv.Itoa(v+1))
					}
				}
			}
		case *ast.IfStmt:
			add("invert condition", n.Cond.Pos(), n.Cond.End(), "!("+text(n.Cond)+")")
			schema(n.Cond, "(envgymMut == "+idMark+") != ("+text(n.Cond)+")")
		case *ast.ReturnStmt:
			for _, r := range n.Results {
				if id, ok := r.(*ast.Ident); ok && (id.Name == "true" || id.Name == "false") {
					add("wrong return", id.Pos(), id.End(), map[string]string{"true": "false", "false": "true"}[id.Name])
					schema(id, map[string]string{"true": "(envgymMut != " + idMark + ")", "false": "(envgymMut == " + idMark + ")"}[id.Name])
				}
			}
		case *ast.CallExpr:
			if len(n.Args) == 2 && !n.Ellipsis.IsValid() {
				a, b := text(n.Args[0]), text(n.Args[1])
				if a != b && !strings.Contains(a, "\n") && !strings.Contains(b, "\n") {
					add("swap arguments", n.Args[0].Pos(), n.Args[1].End(), b+", "+a)
				}
			}
		case *ast.BlockStmt:
			for _, s := range n.List {
				switch s := s.(type) {
				case *ast.ExprStmt, *ast.IncDecStmt:
					add("drop statement", s.Pos(), s.End(), "")
					schema(s, "if envgymMut != "+idMark+" { "+text(s)+" }")
				case *ast.AssignStmt:
					if s.Tok != token.DEFINE {
						add("drop statement", s.Pos(), s.End(), "")
						schema(s, "if envgymMut != "+idMark+" { "+text(s)+" }")
					}
				}
			}
		}
		return true
	})
	return out
}

// apply returns src with m applied.
func (m mutation) apply(src []byte) []byte {
	out := make([]byte, 0, len(src)+len(m.New))
	out = append(out, src[:m.Off]...)
	out = append(out, m.New...)
	return append(out, src[m.End:]...)
}

// edits turns m into exact-replace edits: the bug (original → mutated)
// and its fix, each on whole lines, widened until unique in its file.
func (m mutation) edits(orig []byte) (bug, fix Edit, ok bool) {
	mut := string(m.apply(orig))
	o := string(orig)
	// Line span in the original around [Off, End).
	start := strings.LastIndexByte(o[:m.Off], '\n') + 1
	end := m.End
	if i := strings.IndexByte(o[end:], '\n'); i >= 0 {
		end += i + 1
	} else {
		end = len(o)
	}
	delta := len(m.New) - (m.End - m.Off)
	for range 20 {
		oldText, newText := o[start:end], mut[start:end+delta]
		if strings.Count(o, oldText) == 1 && strings.Count(mut, newText) == 1 && strings.TrimSpace(newText) != "" {
			return Edit{Path: m.File, Old: oldText, New: newText}, Edit{Path: m.File, Old: newText, New: oldText}, true
		}
		if start > 0 {
			start = strings.LastIndexByte(o[:start-1], '\n') + 1
		}
		if end < len(o) {
			if i := strings.IndexByte(o[end:], '\n'); i >= 0 {
				end += i + 1
			} else {
				end = len(o)
			}
		}
	}
	return Edit{}, Edit{}, false
}
