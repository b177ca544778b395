package search

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/envgym/envgym/gym"
)

type verb string

const (
	verbSearch verb = "search"
	verbOpen   verb = "open"
	verbJudge  verb = "judge"
	verbAnswer verb = "answer"
)

var verbs = []string{string(verbSearch), string(verbOpen), string(verbJudge), string(verbAnswer)}

// action is a parsed action string.
type action struct {
	verb verb
	arg  string
}

const actionHelp = `search("query"), open(doc_id), judge(useful) or judge(not_useful), answer("text")`

// parseAction parses `name(argument)`. The argument is a double- or
// single-quoted string with backslash escapes, or bare text. Names are
// case-insensitive; surrounding white space, backticks and a trailing
// semicolon are ignored, since models add them.
func parseAction(s string) (action, error) {
	if !utf8.ValidString(s) {
		return action{}, errors.New("the action is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.Trim(s, "`"))
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	if s == "" {
		return action{}, fmt.Errorf("empty action; use one of %s", actionHelp)
	}
	open := strings.IndexByte(s, '(')
	if open < 0 {
		name := strings.ToLower(strings.Fields(s)[0])
		if isVerb(name) {
			return action{}, fmt.Errorf("missing parentheses: write %s(...), e.g. %s", name, example(verb(name)))
		}
		return action{}, fmt.Errorf("cannot parse %q; use one of %s", clip(s, 60), actionHelp)
	}
	name := strings.ToLower(strings.TrimSpace(s[:open]))
	if !isVerb(name) {
		hint := ""
		if near := gym.Nearest(name, verbs, 1); len(near) > 0 && name != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", near[0])
		}
		return action{}, fmt.Errorf("unknown action %q%s; use one of %s", clip(name, 40), hint, actionHelp)
	}
	v := verb(name)
	rest := s[open+1:]
	arg, err := parseArg(rest)
	if err != nil {
		return action{}, fmt.Errorf("%s: %w; e.g. %s", name, err, example(v))
	}
	if strings.TrimSpace(arg) == "" {
		return action{}, fmt.Errorf("%s needs a non-empty argument, e.g. %s", name, example(v))
	}
	return action{verb: v, arg: arg}, nil
}

// parseArg reads the argument and the closing parenthesis.
func parseArg(rest string) (string, error) {
	t := strings.TrimLeft(rest, " \t\r\n")
	if t != "" && (t[0] == '"' || t[0] == '\'') {
		arg, n, err := unquote(t)
		if err != nil {
			return "", err
		}
		tail := strings.TrimSpace(t[n:])
		if tail != ")" {
			if tail == "" {
				return "", errors.New("missing closing parenthesis")
			}
			return "", fmt.Errorf("unexpected %q after the quoted argument", clip(tail, 30))
		}
		return arg, nil
	}
	end := strings.LastIndexByte(rest, ')')
	if end < 0 {
		return "", errors.New("missing closing parenthesis")
	}
	if tail := strings.TrimSpace(rest[end+1:]); tail != "" {
		return "", fmt.Errorf("unexpected %q after the closing parenthesis", clip(tail, 30))
	}
	return strings.TrimSpace(rest[:end]), nil
}

// unquote reads a quoted string at the start of s and returns it and the
// number of bytes it took.
func unquote(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, errors.New("unterminated string")
			}
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, errors.New(`bad \u escape: want 4 hex digits`)
				}
				r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil {
					return "", 0, errors.New(`bad \u escape: want 4 hex digits`)
				}
				b.WriteRune(rune(r))
				i += 4
			default:
				// \" \' \\ and anything else stand for themselves.
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string: missing closing %c", q)
}

// quote writes s as a double-quoted argument that parseAction reads back.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

func isVerb(name string) bool {
	for _, v := range verbs {
		if v == name {
			return true
		}
	}
	return false
}

func example(v verb) string {
	switch v {
	case verbSearch:
		return `search("founder of the Kelmar Institute")`
	case verbOpen:
		return "open(d01234)"
	case verbJudge:
		return "judge(useful) or judge(not_useful)"
	default:
		return `answer("Tessaly")`
	}
}

// parseJudgement accepts useful / not_useful and common spellings.
func parseJudgement(arg string) (useful bool, err error) {
	s := strings.ToLower(strings.TrimSpace(arg))
	s = strings.NewReplacer("-", "_", " ", "_").Replace(s)
	switch s {
	case "useful", "true", "yes":
		return true, nil
	case "not_useful", "notuseful", "useless", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("judge takes useful or not_useful, got %q", clip(arg, 40))
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
