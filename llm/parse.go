package llm

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// How ParseAction decided, recorded per step as policy_info.parse. With
// a candidate, the record is "SOURCE/RULE", e.g. "action:/index": the
// source is where the candidate was (action:, fenced, quoted, whole).
const (
	ParseExact     = "exact"     // a candidate equals a valid action
	ParseFold      = "case"      // equal up to case
	ParseIndex     = "index"     // a number indexing the valid actions, 1-based
	ParsePrefix    = "prefix"    // a prefix of exactly one valid action
	ParseMention   = "mention"   // the reply mentions exactly one valid action
	ParseFreeText  = "text"      // no valid actions to match: the cleaned candidate
	ParseUnmatched = "unmatched" // valid actions exist, none matched: the cleaned candidate
	ParseEmpty     = "empty"     // nothing but whitespace
	ParseRaw       = "raw"       // nothing to clean: the raw reply
)

// Candidate sources.
const (
	sourceLabelled = "action:"
	sourceFenced   = "fenced"
	sourceQuoted   = "quoted"
	sourceWhole    = "whole"
)

const (
	maxActionBytes = 16 << 10 // longer candidates are cut
	maxMentionLen  = 2 << 10  // the mention rule only reads replies this short
)

var (
	thinkRe   = regexp.MustCompile(`(?s)<think>.*?</think>`)
	fenceRe   = regexp.MustCompile("(?s)```[a-zA-Z0-9_+-]*[ \t]*\n?(.*?)```")
	actionRe  = regexp.MustCompile(`(?im)^[ \t>*_#-]*(?:final[ \t]+)?action[ \t]*[*_]*[ \t]*:[ \t]*[*_]*[ \t]*(.*)$`)
	quotedRe  = regexp.MustCompile("\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|`([^`\n]{1,200})`")
	numberRe  = regexp.MustCompile(`^\(?#?\[?(\d{1,4})[\].):]?\]?$`) // "2", "2.", "(2)", "#2", "[2]"
	bulletRe  = regexp.MustCompile(`^(?:[-*•]\s+)`)
	trailerRe = regexp.MustCompile(`[.!;,]+$`)
)

// ParseAction turns an LLM reply into an action string. It never fails:
// a reply it cannot read comes back as text, for the env to answer with
// INVALID_ACTION, which is the learning signal the agent needs.
//
// It looks for candidates in this order: the last "Action: …" line (or
// the code block right after it), fenced code blocks, quoted strings, the
// whole reply; <think>…</think> blocks are dropped first. With valid
// actions it returns, for the first candidate that matches, an exact
// match, else a case-insensitive one, else a bare number indexing the
// list (1-based), else the one valid action the candidate is a prefix of;
// failing all candidates, the one valid action the reply mentions. Without
// valid actions (or no match) it returns the first candidate but quoted
// strings, cleaned:
// its first line, unless it is a fenced block or JSON, which are kept
// whole. how says which rule decided.
func ParseAction(reply string, valid []string) (action, how string) {
	text := strings.TrimSpace(thinkRe.ReplaceAllString(reply, ""))
	if i := strings.Index(text, "<think>"); i >= 0 && !strings.Contains(text, "</think>") {
		text = strings.TrimSpace(text[:i]) // cut off mid-thought
	}
	if text == "" {
		if strings.TrimSpace(reply) == "" {
			return "", ParseEmpty
		}
		return strings.TrimSpace(reply), ParseRaw
	}
	cands := candidates(text)
	if len(valid) > 0 {
		for _, c := range cands {
			if a, how, ok := match(c.text, valid); ok {
				return a, c.source + "/" + how
			}
		}
		if len(text) <= maxMentionLen {
			if a, ok := mentioned(text, valid); ok {
				return a, ParseMention
			}
		}
	}
	for _, c := range cands {
		if c.source == sourceQuoted {
			continue // a quoted word only counts when it names a valid action
		}
		if a := c.clean(); a != "" {
			if len(valid) > 0 {
				return a, c.source + "/" + ParseUnmatched
			}
			return a, c.source + "/" + ParseFreeText
		}
	}
	return text, ParseRaw
}

type candidate struct {
	text   string
	source string
	whole  bool // keep every line (code blocks, JSON)
}

// clean strips decoration from a candidate: quotes, backticks, bold,
// bullets and trailing punctuation, and (unless whole) lines after the first.
func (c candidate) clean() string {
	s := strings.TrimSpace(c.text)
	if json.Valid([]byte(s)) && (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) {
		return cut(s)
	}
	if !c.whole {
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				s = line
				break
			}
		}
	}
	if !strings.Contains(s, "\n") {
		s = cleanLine(s)
	}
	return cut(s)
}

func cleanLine(s string) string {
	s = strings.TrimSpace(s)
	for {
		before := s
		s = bulletRe.ReplaceAllString(s, "")
		for _, p := range [][2]string{{"**", "**"}, {"__", "__"}, {"`", "`"}, {`"`, `"`}, {"'", "'"}, {"“", "”"}, {"<", ">"}, {"[", "]"}} {
			if len(s) >= len(p[0])+len(p[1])+1 && strings.HasPrefix(s, p[0]) && strings.HasSuffix(s, p[1]) {
				s = strings.TrimSpace(s[len(p[0]) : len(s)-len(p[1])])
			}
		}
		s = strings.TrimSpace(trailerRe.ReplaceAllString(s, ""))
		if s == before {
			return s
		}
	}
}

func cut(s string) string {
	if len(s) > maxActionBytes {
		return s[:maxActionBytes]
	}
	return s
}

// candidates lists the places an action may be, most explicit first.
func candidates(text string) []candidate {
	var out []candidate
	fences := fenceRe.FindAllStringSubmatchIndex(text, -1)
	if locs := actionRe.FindAllStringSubmatchIndex(text, -1); len(locs) > 0 {
		l := locs[len(locs)-1]
		rest := strings.TrimSpace(text[l[2]:l[3]])
		if rest == "" || strings.HasPrefix(rest, "```") {
			// "Action:" then a code block: take the block.
			for _, f := range fences {
				if f[0] >= l[2] {
					rest = text[f[2]:f[3]]
					out = append(out, candidate{text: rest, source: sourceLabelled, whole: true})
					break
				}
			}
		} else {
			out = append(out, candidate{text: rest, source: sourceLabelled})
		}
	}
	for _, f := range fences {
		out = append(out, candidate{text: text[f[2]:f[3]], source: sourceFenced, whole: true})
	}
	for _, q := range quotedRe.FindAllStringSubmatch(text, -1) {
		for _, g := range q[1:] {
			if g != "" {
				out = append(out, candidate{text: g, source: sourceQuoted})
			}
		}
	}
	out = append(out, candidate{text: text, source: sourceWhole})
	return out
}

// match finds the valid action a candidate names.
func match(c string, valid []string) (string, string, bool) {
	var forms []string
	raw := strings.TrimSpace(c)
	forms = append(forms, raw)
	if first := firstLine(raw); first != raw {
		forms = append(forms, first)
	}
	for _, f := range append([]string(nil), forms...) {
		if cl := cleanLine(f); cl != f {
			forms = append(forms, cl)
		}
	}
	for _, f := range forms {
		for _, v := range valid {
			if f == v {
				return v, ParseExact, true
			}
		}
	}
	for _, f := range forms {
		for _, v := range valid {
			if strings.EqualFold(f, v) {
				return v, ParseFold, true
			}
		}
	}
	for _, f := range forms {
		if m := numberRe.FindStringSubmatch(f); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= 1 && n <= len(valid) {
				return valid[n-1], ParseIndex, true
			}
		}
	}
	for _, f := range forms {
		if len(f) < 1 {
			continue
		}
		found, count := "", 0
		lf := strings.ToLower(f)
		for _, v := range valid {
			if strings.HasPrefix(strings.ToLower(v), lf) {
				found, count = v, count+1
			}
		}
		if count == 1 {
			return found, ParsePrefix, true
		}
	}
	return "", "", false
}

// mentioned returns the valid action the text mentions as a whole phrase,
// when exactly one is (an action contained in another, longer mentioned
// action does not count: "take red key" beats "take").
func mentioned(text string, valid []string) (string, bool) {
	lt := strings.ToLower(text)
	var hits []string
	for _, v := range valid {
		if v == "" {
			continue
		}
		if containsPhrase(lt, strings.ToLower(v)) {
			hits = append(hits, v)
		}
	}
	var kept []string
	for _, h := range hits {
		inner := false
		for _, o := range hits {
			if o != h && len(o) > len(h) && strings.Contains(strings.ToLower(o), strings.ToLower(h)) {
				inner = true
				break
			}
		}
		if !inner {
			kept = append(kept, h)
		}
	}
	if len(kept) == 1 {
		return kept[0], true
	}
	return "", false
}

// containsPhrase reports whether p occurs in s between word boundaries.
func containsPhrase(s, p string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], p)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(p)
		if (start == 0 || !isWordByte(s[start-1])) && (end == len(s) || !isWordByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}
