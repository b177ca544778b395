package trainer

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/envgym/envgym/gym"
)

// Goal features: per candidate, how its element's text relates to the
// observation's goal (gym.Goal). A candidate-scoring policy reads the goal
// only through a mean over the observation's lines, which dilutes the few
// words that decide "is this the product / option the goal asks for";
// these features say it directly.
//
//	0 overlap:  share of the candidate's words that occur in the goal
//	1 coverage: share of the goal's content words that occur in the candidate
//	2 price:    +1 when the candidate names a price ("$24.75") within the
//	            goal's limit ("lower than 35.00 dollars"), −1 above it, 0
//	            when either is missing
//
// NumGoalFeatures is their number (PolicyConfig.GoalFeatures).
const NumGoalFeatures = 3

// goalStopWords are the goal words that say nothing about the item.
var goalStopWords = map[string]bool{"i": true, "am": true, "looking": true, "for": true, "a": true, "an": true,
	"and": true, "the": true, "price": true, "lower": true, "than": true, "dollars": true, "with": true, "of": true}

var (
	goalLimit = regexp.MustCompile(`(?:lower|less) than \$?([0-9]+(?:\.[0-9]+)?)`)
	candPrice = regexp.MustCompile(`\$([0-9]+(?:\.[0-9]+)?)`)
)

// goalInfo is what the features need of an observation's goal.
type goalInfo struct {
	words   map[string]bool // every goal word
	content []string        // distinct goal words that are not stop words
	limit   float64         // price limit (0: none)
}

// parseGoal reads text's goal line; ok is false when it has none.
func parseGoal(text string) (goalInfo, bool) {
	g, ok := gym.Goal(text)
	if !ok {
		return goalInfo{}, false
	}
	gi := goalInfo{words: map[string]bool{}}
	for _, w := range splitWords(g) {
		if !gi.words[w] && !goalStopWords[w] {
			gi.content = append(gi.content, w)
		}
		gi.words[w] = true
	}
	if m := goalLimit.FindStringSubmatch(g); m != nil {
		gi.limit, _ = strconv.ParseFloat(m[1], 64)
	}
	return gi, true
}

// features gives the first n goal features of a candidate whose element
// text is content.
func (g goalInfo) features(content string, n int) []float32 {
	out := make([]float32, n)
	ws := splitWords(content)
	if len(ws) > 0 && len(g.words) > 0 {
		hit := 0
		for _, w := range ws {
			if g.words[w] {
				hit++
			}
		}
		out[0] = float32(hit) / float32(len(ws))
	}
	if n > 1 && len(g.content) > 0 {
		in := make(map[string]bool, len(ws))
		for _, w := range ws {
			in[w] = true
		}
		hit := 0
		for _, w := range g.content {
			if in[w] {
				hit++
			}
		}
		out[1] = float32(hit) / float32(len(g.content))
	}
	if n > 2 && g.limit > 0 {
		if m := candPrice.FindStringSubmatch(content); m != nil {
			if p, err := strconv.ParseFloat(m[1], 64); err == nil {
				out[2] = -1
				if p < g.limit {
					out[2] = 1
				}
			}
		}
	}
	return out
}

// candidateContent is the text of the element an action names (its
// observation line), or the action itself: an id 7 must not match
// "size 7" in the goal.
func candidateContent(els map[string]string, a string) string {
	if m := idAction.FindStringSubmatch(a); m != nil {
		return els[m[2]]
	}
	return strings.TrimSpace(a)
}
