package worldmodel

import (
	"strconv"

	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/envgym/envgym/gym/trajectory"
)

// Grounding: an action like click(5) means nothing by itself — what it
// does depends on the element [5] of the current observation ("link
// B01448 Aperture Canvas Lightweight Sneakers — $37.51" here, "color blue"
// there). The model therefore keys transitions on the action *and* the
// element it targets, and edits a neighbour's outcome by the difference
// between its element and ours (another product id, title and price).

// element returns the observation line of the element an id-addressed
// action targets (`verb(ID` or `verb(ID, …)`), without its "[ID] "
// prefix, and the action's arguments after the id; ok is false for
// actions that address no element listed in obs.
func element(obs, action string) (line, rest string, ok bool) {
	open := strings.IndexByte(action, '(')
	if open <= 0 {
		return "", "", false
	}
	args := action[open+1:]
	end := strings.IndexAny(args, ",)")
	if end <= 0 {
		return "", "", false
	}
	id := strings.TrimSpace(args[:end])
	if _, err := strconv.Atoi(id); err != nil {
		return "", "", false
	}
	prefix := "[" + id + "] "
	for l := range strings.SplitSeq(obs, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l[len(prefix):], strings.TrimSpace(args[end:]), true
		}
	}
	return "", "", false
}

// groundedAction is the text an action is featurised as: the action and
// the element it targets.
func groundedAction(obs, action string) string {
	if el, _, ok := element(obs, action); ok {
		return action + "\n" + el
	}
	return action
}

// poolKey groups transitions whose actions do the same thing: the verb,
// the targeted element (not its id, which differs between pages) and the
// remaining arguments; the normalised action when it targets no element.
func poolKey(obs, action string) string {
	if el, rest, ok := element(obs, action); ok {
		verb := normAction(action[:strings.IndexByte(action, '(')])
		return verb + "\x00" + el + "\x00" + normAction(rest)
	}
	return normAction(action)
}

// episodeKeys are the line keys (see lineKey) that stay fixed within every
// episode of steps yet differ between episodes: the task's goal, say.
// Retrieval ignores them, so that the same page under another goal is a
// near neighbour; edits keep ours. At least three episodes must show a key
// with different values before it counts.
func episodeKeys(obsOf func(i int) (episode, obs string), n int) map[string]bool {
	type seen struct {
		byEp   map[string]string
		broken bool
	}
	keys := map[string]*seen{}
	obsPerEp := map[string]int{}
	for i := range n {
		ep, obs := obsOf(i)
		obsPerEp[ep]++
		for _, l := range strings.Split(obs, "\n") {
			k := lineKey(l)
			if k == l || k == "" { // only keyed fields ("Goal: …")
				continue
			}
			s := keys[k]
			if s == nil {
				s = &seen{byEp: map[string]string{}}
				keys[k] = s
			}
			if v, ok := s.byEp[ep]; ok && v != l {
				s.broken = true
			}
			s.byEp[ep] = l
		}
	}
	out := map[string]bool{}
	for k, s := range keys {
		if s.broken {
			continue
		}
		vals := map[string]bool{}
		for _, v := range s.byEp {
			vals[v] = true
		}
		if len(vals) >= 3 {
			out[k] = true
		}
	}
	return out
}

// stripKeys drops the lines of text whose key is in keys.
func stripKeys(text string, keys map[string]bool) string {
	if len(keys) == 0 {
		return text
	}
	lines := strings.Split(text, "\n")
	out := lines[:0:0]
	for _, l := range lines {
		if !keys[lineKey(l)] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// substitution maps a neighbour's action and element to ours: the action
// text, and the element's words where the two differ (aligned by their
// common words; a run of differing words is mapped word by word, the last
// of ours taking the rest, or the neighbour's extra words dropped). The
// words are replaced only as whole words (see replaceWords).
type substitution [][2]string

func newSubstitution(nbAction, nbElem, action, elem string) substitution {
	var s substitution
	if nbAction != action && nbAction != "" && action != "" {
		s = append(s, [2]string{nbAction, action})
		// The same verb on the same id with other text (fill(1, "x") vs
		// fill(1, "y")): the text typed shows up in the page.
		if na, ta := quotedArg(nbAction), quotedArg(action); na != "" && ta != "" && na != ta &&
			nbAction[:strings.IndexByte(nbAction, '"')] == action[:strings.IndexByte(action, '"')] {
			s = append(s, [2]string{na, ta})
		}
	}
	if nbElem == elem || nbElem == "" || elem == "" {
		return s
	}
	a, b := elemWords(nbElem), elemWords(elem)
	pairs := lcs(a, b, func(x string) string { return x })
	ai, bi := 0, 0
	gap := func(x, y []string) {
		for i, w := range x {
			switch {
			case i < len(y)-1 && i == len(x)-1: // ours has more words: the last takes the rest
				s = append(s, [2]string{w, strings.Join(y[i:], " ")})
			case i < len(y):
				s = append(s, [2]string{w, y[i]})
			default:
				s = append(s, [2]string{w, ""})
			}
		}
	}
	for _, p := range append(pairs, [2]int{len(a), len(b)}) {
		gap(a[ai:p[0]], b[bi:p[1]])
		ai, bi = p[0]+1, p[1]+1
	}
	return s
}

// quotedArg is the first double-quoted argument of an action, unquoted.
func quotedArg(action string) string {
	i := strings.IndexByte(action, '"')
	if i < 0 {
		return ""
	}
	v, err := strconv.QuotedPrefix(action[i:])
	if err != nil {
		return ""
	}
	u, err := strconv.Unquote(v)
	if err != nil {
		return ""
	}
	return u
}

// elemWords are an element line's words without the quotes around its
// name.
func elemWords(el string) []string {
	f := strings.Fields(el)
	for i, w := range f {
		f[i] = strings.Trim(w, `"'`)
	}
	return f
}

// apply rewrites line with the substitution.
func (s substitution) apply(line string) string {
	for _, p := range s {
		line = replaceWords(line, p[0], p[1])
	}
	return line
}

// replaceWords replaces the occurrences of from in s that are not part
// of a longer word (no letter or digit right before or after them); an
// emptied word takes one neighbouring space with it.
func replaceWords(s, from, to string) string {
	if from == "" || from == to || !strings.Contains(s, from) {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is decided
	for from0 := 0; ; {
		i := strings.Index(s[from0:], from)
		if i < 0 {
			b.WriteString(s[done:])
			return b.String()
		}
		i += from0
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(from):])
		if isWordRune(before) || isWordRune(after) {
			from0 = i + len(from)
			continue
		}
		head, next := s[done:i], i+len(from)
		if to == "" && strings.HasPrefix(s[next:], " ") {
			next++
		} else if to == "" && strings.HasSuffix(head, " ") {
			head = head[:len(head)-1]
		}
		b.WriteString(head)
		b.WriteString(to)
		done, from0 = next, next
	}
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// contextSubstitution maps the neighbour's page onto ours: for each
// field line (one with a key, see lineKey) that both pages have once and
// that differs, the differing words (a title, a price), as
// newSubstitution aligns them; for the URL, the query parameters whose
// values differ. Episode-fixed fields (the goal) are left out: edits
// keep ours anyway. Lower-case forms of mapped words are mapped too
// ("Leather" → "Wool" gives "leather" → "wool" for a features line).
func contextSubstitution(nbObs, obs string, epKeys map[string]bool) substitution {
	a, b := fieldLines(nbObs), fieldLines(obs)
	var s substitution
	for _, k := range sortedKeys(a) {
		la := a[k]
		lb, ok := b[k]
		if !ok || la == lb || epKeys[k] {
			continue
		}
		if k == "URL" {
			s = append(s, urlSubstitution(la[len("URL:"):], lb[len("URL:"):])...)
			continue
		}
		// Word for word only: a run mapped onto a longer one would carry
		// its words into every line that has them (a URL, a list).
		if len(strings.Fields(la)) == len(strings.Fields(lb)) {
			s = append(s, newSubstitution("", la[len(k)+1:], "", lb[len(k)+1:])...)
		}
	}
	n := len(s)
	for _, p := range s[:n] {
		if lo := strings.ToLower(p[0]); lo != p[0] {
			s = append(s, [2]string{lo, strings.ToLower(p[1])})
		}
	}
	return s
}

// fieldLines are the keyed lines of text that occur once, by key.
func fieldLines(text string) map[string]string {
	m, dup := map[string]string{}, map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		k := lineKey(l)
		if k == l {
			continue
		}
		if _, seen := m[k]; seen {
			dup[k] = true
		}
		m[k] = l
	}
	for k := range dup {
		delete(m, k)
	}
	return m
}

// urlSubstitution maps "name=value" query parameters of URL a to those of
// URL b where both have the parameter with different values.
func urlSubstitution(a, b string) substitution {
	params := func(u string) map[string]string {
		m := map[string]string{}
		_, q, ok := strings.Cut(strings.TrimSpace(u), "?")
		if !ok {
			return m
		}
		for kv := range strings.SplitSeq(q, "&") {
			if k, _, ok := strings.Cut(kv, "="); ok {
				m[k] = kv
			}
		}
		return m
	}
	pa, pb := params(a), params(b)
	var s substitution
	// Path segments that differ (another product id), when the paths
	// have the same shape.
	sa, sb := strings.Split(strings.TrimSpace(strings.SplitN(a, "?", 2)[0]), "/"), strings.Split(strings.TrimSpace(strings.SplitN(b, "?", 2)[0]), "/")
	if len(sa) == len(sb) {
		for i := range sa {
			if sa[i] != sb[i] && sa[i] != "" && sb[i] != "" {
				s = append(s, [2]string{sa[i], sb[i]})
			}
		}
	}
	for _, k := range sortedKeys(pa) {
		va := pa[k]
		if vb, ok := pb[k]; ok && va != vb {
			s = append(s, [2]string{va, vb})
		}
	}
	return s
}

// elemSig is the ids and roles of text's elements ("[3] link"), which is
// what a web page's valid actions follow.
func elemSig(text string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, "[") {
			if i := strings.IndexByte(l, ' '); i > 0 {
				j := strings.IndexByte(l[i+1:], ' ')
				if j < 0 {
					j = len(l) - i - 1
				}
				b.WriteString(l[:i+1+j])
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// nGoal is the length of goalFeatures.
const nGoal = 3

// goalFeatures say how well a state matches its goal, for the reward
// head: a bag of words cannot tell "blue" in the goal from "blue" on the
// page, and whether a purchase earns its reward is exactly that match.
// Goal words are the words of the episode-fixed lines (see episodeKeys)
// less common ones (in over 30 % of the buffer's goals: "looking",
// "price"); marked lines are those with a state mark ("selected",
// "checked"). Features: the share of goal words found in the rest of the
// observation, the share found on marked lines, and the share of marked
// lines' words that are goal words.
func (b *Buffer) goalFeatures(obs string) [nGoal]float32 {
	var f [nGoal]float32
	if len(b.epKeys) == 0 {
		return f
	}
	goal := map[string]bool{}
	body, marked := map[string]bool{}, map[string]bool{}
	nMarked := 0
	for l := range strings.SplitSeq(obs, "\n") {
		k := lineKey(l)
		if b.epKeys[k] {
			for _, w := range words(l[len(k):]) {
				if !b.goalCommon[w] {
					goal[w] = true
				}
			}
			continue
		}
		ws := words(l)
		for _, w := range ws {
			body[w] = true
		}
		if strings.HasSuffix(l, " selected") || strings.HasSuffix(l, " checked") || strings.Contains(l, " selected ") || strings.Contains(l, " checked ") {
			for _, w := range ws {
				marked[w] = true
				nMarked++
			}
		}
	}
	if len(goal) == 0 {
		return f
	}
	var inBody, inMarked, markedGoal float32
	for w := range goal {
		if body[w] {
			inBody++
		}
		if marked[w] {
			inMarked++
		}
	}
	for w := range marked {
		if goal[w] {
			markedGoal++
		}
	}
	f[0] = inBody / float32(len(goal))
	f[1] = inMarked / float32(len(goal))
	if len(marked) > 0 {
		f[2] = markedGoal / float32(len(marked))
	}
	return f
}

// commonGoalWords are the words of episode-fixed lines found in over 30 %
// of the distinct such lines.
func commonGoalWords(obs func(i int) string, n int, epKeys map[string]bool) map[string]bool {
	lines := map[string]bool{}
	for i := range n {
		for l := range strings.SplitSeq(obs(i), "\n") {
			if epKeys[lineKey(l)] {
				lines[l] = true
			}
		}
	}
	count := map[string]int{}
	for l := range lines {
		seen := map[string]bool{}
		for _, w := range words(l) {
			if !seen[w] {
				seen[w] = true
				count[w]++
			}
		}
	}
	out := map[string]bool{}
	for w, c := range count {
		if float64(c) > 0.3*float64(len(lines)) {
			out[w] = true
		}
	}
	return out
}

// pageKey is the field that names a page: a web observation's URL. A
// page reached by navigating to a URL (a link, a back button) is what
// that URL showed before, which no edit of the current page can know.
const pageKey = "URL"

// pageOf is text's pageKey line ("" when it has none).
func pageOf(text string) string {
	for l := range strings.SplitSeq(text, "\n") {
		if lineKey(l) == pageKey {
			return l
		}
	}
	return ""
}

// withLines gives page with its episode-fixed lines replaced by obs's.
func withLines(page, obs string, epKeys map[string]bool) string {
	if len(epKeys) == 0 {
		return page
	}
	ours := keyed(obs)
	lines := strings.Split(page, "\n")
	for i, l := range lines {
		if k := lineKey(l); epKeys[k] {
			if o, ok := ours[k]; ok {
				lines[i] = o
			}
		}
	}
	return strings.Join(lines, "\n")
}

// pageMemory maps pageKey lines to the page most often observed under
// them in steps (episode-fixed lines aside) and that page's valid actions.
func pageMemory(steps []trajectory.Step, epKeys map[string]bool) map[string]trajectory.Step {
	type seen struct {
		n    int
		step trajectory.Step
	}
	by := map[string]map[string]*seen{}
	for _, s := range steps {
		u := pageOf(s.Obs)
		if u == "" {
			continue
		}
		k := stripKeys(s.Obs, epKeys)
		if by[u] == nil {
			by[u] = map[string]*seen{}
		}
		if x := by[u][k]; x != nil {
			x.n++
		} else {
			by[u][k] = &seen{n: 1, step: s}
		}
	}
	out := make(map[string]trajectory.Step, len(by))
	for u, texts := range by {
		var best *seen
		for _, k := range sortedKeys(texts) {
			if x := texts[k]; best == nil || x.n > best.n {
				best = x
			}
		}
		out[u] = best.step
	}
	return out
}
