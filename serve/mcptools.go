package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// MCP tools are derived from what an env says about its actions, not
// written per family: every call-like form in Spec.ActionSpace
// (`click(id)`, `fill(id, "text")`, `view("path", start, end)`,
// `judge(useful)`) becomes a tool whose typed arguments are rendered back
// into that form and sent as one Step. Envs whose grammar has no call
// forms (text commands, JSON actions) still get the generic step tool.

// paramKind is how an argument is typed in the schema and written in the
// action.
type paramKind int

const (
	paramString paramKind = iota // JSON-quoted
	paramInt                     // a bare integer
	paramEnum                    // one of fixed bare words
)

// intPlaceholders are bare argument names that stand for integers in the
// grammars we know of (element ids, line numbers, ranges, coordinates).
var intPlaceholders = map[string]bool{
	"id": true, "n": true, "i": true, "line": true, "start": true, "end": true, "index": true, "count": true,
	"k": true, "top_k": true, "offset": true, "limit": true, "ms": true,
	"x": true, "y": true, "dx": true, "dy": true, "x1": true, "y1": true, "x2": true, "y2": true,
}

// actionParam is one argument of an action tool.
type actionParam struct {
	name     string
	kind     paramKind
	enum     []string
	example  string // a quoted literal of the grammar, e.g. "Enter"
	optional bool
	bare     bool // written without quotes in the grammar
	desc     string
}

// actionTool is one action form of an env's grammar.
type actionTool struct {
	name   string
	params []actionParam
	usage  []string // the forms as the grammar writes them
	others []string // forms of the same name the tool does not cover
	gloss  string   // what the grammar says about them
}

var (
	callRE  = regexp.MustCompile(`\b([a-z_][a-z0-9_]*)\(([^()]*)\)`)
	identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// Bounds on what a grammar can make (it comes from a plugin, which may
// be hostile): tools, arguments of one form, and the grammar read.
const (
	maxActionTools = 64
	maxActionArgs  = 16
	maxEnumWords   = 64
	maxGrammarLen  = 64 << 10
)

// deriveActionTools reads the call forms of an action grammar, merging
// forms of the same name: extra trailing arguments become optional, and
// bare words that differ between forms of one arity become an enum.
func deriveActionTools(grammar string) []actionTool {
	if len(grammar) > maxGrammarLen {
		grammar = grammar[:maxGrammarLen]
	}
	type form struct {
		name, usage, gloss string
		args               []string
	}
	var forms []form
	for _, line := range strings.Split(grammar, "\n") {
		locs := callRE.FindAllStringSubmatchIndex(line, -1)
		for i, m := range locs {
			end := len(line)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			args := splitArgs(line[m[4]:m[5]])
			if len(args) > maxActionArgs {
				continue
			}
			forms = append(forms, form{
				name:  line[m[2]:m[3]],
				usage: line[m[0]:m[1]],
				gloss: strings.Trim(line[m[1]:end], " \t|,;[]"),
				args:  args,
			})
		}
	}
	var tools []actionTool
	index := map[string]int{}
	byName := map[string][]form{}
	for _, f := range forms {
		if _, ok := index[f.name]; !ok {
			if len(tools) == maxActionTools {
				continue
			}
			index[f.name] = len(tools)
			tools = append(tools, actionTool{name: f.name})
		}
		byName[f.name] = append(byName[f.name], f)
	}
	notes := paramNotes(grammar)
	intIDs := strings.Contains(notes["id"], "number")
	parse := func(a string) actionParam {
		p := parseParam(a)
		// from_id, to_id are ids too where the grammar says ids are numbers.
		if p.bare && intIDs && strings.HasSuffix(p.name, "_id") {
			p.kind, p.bare, p.enum = paramInt, false, nil
		}
		return p
	}
	for i := range tools {
		// Forms whose arguments do not line up with the first form's
		// (scroll(up|down) and scroll(dx, dy)) are left to the step tool
		// and named in the description.
		var fs []form
		for _, f := range byName[tools[i].name] {
			if len(fs) == 0 || compatible(fs[0].args, f.args, parse) {
				fs = append(fs, f)
			} else {
				tools[i].others = append(tools[i].others, f.usage)
			}
		}
		minArgs, maxArgs := len(fs[0].args), 0
		var glosses []string
		for _, f := range fs {
			minArgs, maxArgs = min(minArgs, len(f.args)), max(maxArgs, len(f.args))
			tools[i].usage = append(tools[i].usage, f.usage)
			if f.gloss != "" {
				glosses = append(glosses, f.gloss)
			}
		}
		tools[i].gloss = strings.Join(glosses, " ")
		used := map[string]int{}
		for pos := range maxArgs {
			var words []string
			var p actionParam
			for _, f := range fs {
				if pos >= len(f.args) {
					continue
				}
				q := parse(f.args[pos])
				if q.kind == paramEnum || (q.bare && q.kind == paramString) {
					words = append(words, q.enum...)
				}
				if p.name == "" {
					p = q
				}
			}
			words = slices.Compact(sortedCopy(words))
			if len(words) > maxEnumWords {
				words = words[:maxEnumWords]
			}
			if len(words) > 1 {
				p = actionParam{name: "value", kind: paramEnum, enum: words}
			}
			p.optional, p.bare = pos >= minArgs, false
			if p.kind != paramEnum {
				p.enum = nil
			}
			if n := used[p.name]; n > 0 {
				used[p.name]++
				p.name = fmt.Sprintf("%s%d", p.name, n+1)
			} else {
				used[p.name] = 1
			}
			if p.desc == "" {
				p.desc = notes[p.name]
			}
			tools[i].params = append(tools[i].params, p)
		}
	}
	return tools
}

// compatible reports whether two forms of an action can be one tool: at
// every position both have, the same kind, or bare words (an enum).
func compatible(a, b []string, parse func(string) actionParam) bool {
	for i := range min(len(a), len(b)) {
		p, q := parse(a[i]), parse(b[i])
		wordy := func(x actionParam) bool { return x.kind == paramEnum || x.bare }
		if p.kind != q.kind && !(wordy(p) && wordy(q)) {
			return false
		}
		if p.kind == paramString && q.kind == paramString && p.bare != q.bare {
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// splitArgs splits an argument list at top-level commas, keeping quoted
// commas.
func splitArgs(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			i++
			c = s[i]
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// parseParam types one argument as the grammar writes it: "text" is a
// string named text, "Enter" a string with an example, a|b an enum, id a
// placeholder (an integer for the names in intPlaceholders).
func parseParam(a string) actionParam {
	if len(a) >= 2 && (a[0] == '"' || a[0] == '\'') && a[len(a)-1] == a[0] {
		c := a[1 : len(a)-1]
		if identRE.MatchString(c) {
			return actionParam{name: c, kind: paramString}
		}
		return actionParam{name: "value", kind: paramString, example: c}
	}
	if strings.Contains(a, "|") {
		var words []string
		for _, w := range strings.Split(a, "|") {
			if w = strings.TrimSpace(w); w != "" {
				words = append(words, w)
			}
		}
		return actionParam{name: "value", kind: paramEnum, enum: words}
	}
	name := strings.ToLower(strings.TrimSpace(a))
	if !identRE.MatchString(name) {
		name = "value"
	}
	if intPlaceholders[name] {
		return actionParam{name: name, kind: paramInt}
	}
	// A bare word may be a placeholder or a literal; a single form cannot
	// tell, so it is a string, and several forms differing there turn it
	// into an enum (see deriveActionTools).
	return actionParam{name: name, kind: paramString, bare: true, enum: []string{name}}
}

// paramNotes reads "NAME is …" definitions of the grammar's notes, e.g.
// "id is the number in [brackets] in the observation".
func paramNotes(grammar string) map[string]string {
	notes := map[string]string{}
	re := regexp.MustCompile(`(?:^|[.;]\s*|\n)([a-z_][a-z0-9_]*) (?:is|are) ([^;.\n]+)`)
	for _, m := range re.FindAllStringSubmatch(grammar, -1) {
		if _, ok := notes[m[1]]; !ok {
			notes[m[1]] = strings.TrimSpace(m[2])
		}
	}
	return notes
}

// schema is the tool's input schema: typed properties, the required
// ones, nothing else.
func (t actionTool) schema() *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{},
		AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}}}
	for _, p := range t.params {
		ps := &jsonschema.Schema{Description: p.description()}
		switch p.kind {
		case paramInt:
			ps.Type = "integer"
		case paramEnum:
			ps.Type = "string"
			for _, w := range p.enum {
				ps.Enum = append(ps.Enum, w)
			}
		default:
			ps.Type = "string"
			if p.example != "" {
				ps.Examples = []any{p.example}
			}
		}
		s.Properties[p.name] = ps
		if !p.optional {
			s.Required = append(s.Required, p.name)
		}
	}
	return s
}

func (p actionParam) description() string {
	var parts []string
	if p.desc != "" {
		parts = append(parts, p.desc)
	}
	if p.example != "" {
		parts = append(parts, fmt.Sprintf("e.g. %q", p.example))
	}
	if p.optional {
		parts = append(parts, "optional")
	}
	return strings.Join(parts, "; ")
}

// description is the tool's docstring.
func (t actionTool) description(envID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "One action in %s: %s.", envID, strings.Join(t.usage, " or "))
	if t.gloss != "" {
		fmt.Fprintf(&b, " %s.", strings.TrimRight(t.gloss, ".:"))
	}
	if len(t.others) > 0 {
		fmt.Fprintf(&b, " For %s, use the step tool.", strings.Join(t.others, " or "))
	}
	for _, p := range t.params {
		kind := map[paramKind]string{paramString: "string", paramInt: "integer", paramEnum: "one of " + strings.Join(p.enum, ", ")}[p.kind]
		fmt.Fprintf(&b, "\n- %s (%s)", p.name, kind)
		if d := p.description(); d != "" {
			fmt.Fprintf(&b, ": %s", d)
		}
	}
	b.WriteString("\n" + resultDoc)
	return b.String()
}

// resultDoc tells an agent how to read every env tool's result.
const resultDoc = "Returns the next observation as text (plus a PNG screenshot when the env renders one); " +
	"structured content has reward, terminated, truncated, status and valid_actions. " +
	"status INVALID_ACTION: the action was refused and the text says why; fix it and retry. " +
	"ENV_ERROR, TIMEOUT or CRASHED: the environment failed, not you; call reset. " +
	"After terminated or truncated, call reset for a new episode."

// render writes the action the tool call stands for, e.g. fill(3, "a\"b").
func (t actionTool) render(args map[string]any) (string, error) {
	var parts []string
	missing := ""
	for _, p := range t.params {
		v, ok := args[p.name]
		if !ok || v == nil {
			if !p.optional {
				return "", fmt.Errorf("%s: argument %q is required", t.name, p.name)
			}
			if missing == "" {
				missing = p.name
			}
			continue
		}
		if missing != "" {
			return "", fmt.Errorf("%s: argument %q needs %q too (forms: %s)", t.name, p.name, missing, strings.Join(t.usage, ", "))
		}
		switch p.kind {
		case paramInt:
			n, ok := asInt(v)
			if !ok {
				return "", fmt.Errorf("%s: argument %q must be an integer, got %v", t.name, p.name, v)
			}
			parts = append(parts, strconv.FormatInt(n, 10))
		case paramEnum:
			s, ok := v.(string)
			if !ok || !slices.Contains(p.enum, s) {
				return "", fmt.Errorf("%s: argument %q must be one of %s, got %v", t.name, p.name, strings.Join(p.enum, ", "), v)
			}
			parts = append(parts, s)
		default:
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s: argument %q must be a string, got %v", t.name, p.name, v)
			}
			parts = append(parts, quoteArg(s))
		}
	}
	return t.name + "(" + strings.Join(parts, ", ") + ")", nil
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case int:
		return int64(n), true
	case int64:
		return n, true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// quoteArg writes s as a JSON string without HTML escaping: the escapes
// every call grammar here reads (\" \\ \n \uXXXX).
func quoteArg(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
