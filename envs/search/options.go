package search

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/envgym/envgym/gym"
)

// config is the parsed options of one env instance.
type config struct {
	// Corpus selection.
	seed            uint64 // fictional KB seed
	passages        int
	questionsPerHop int
	corpusPath      string // custom
	questionsPath   string // custom

	cacheDir string
	progress bool

	// Episode limits.
	topK          int
	maxSteps      int
	maxQueryChars int
	snippetChars  int
	maxOpenChars  int

	// Rewards.
	finalReward    string // "f1" or "em"
	processRewards bool   // add process parts to StepResult.Reward
	retrieveReward float64
	openReward     float64
	judgeReward    float64
}

// optionDocs documents every option; it is also the list of known names.
var optionDocs = map[string]string{
	"seed":              "fictional: knowledge base seed (default 0)",
	"passages":          "fictional: corpus size (default 20000, at least 500)",
	"questions_per_hop": "fictional: questions generated per hop count 1..4 (default 250)",
	"corpus":            "custom: path of the corpus JSONL, {id, title, text} a line",
	"questions":         "custom: path of the questions JSONL, {question, answers[], supporting_ids[]?} a line",
	"cache_dir":         "where indexes are cached (default <user cache dir>/envgym/search)",
	"progress":          "show a progress bar on stderr while indexing (default true)",
	"top_k":             "results per search, 1..20 (default 5)",
	"max_steps":         "steps per episode before truncation, 1..200 (default 20)",
	"max_query_chars":   "longest query accepted (default 200)",
	"snippet_chars":     "snippet length in search results (default 160)",
	"max_open_chars":    "longest passage text shown by open (default 2000)",
	"final_reward":      `"f1" (default) or "em": the answer's reward`,
	"process_rewards":   "add the process reward parts to the step reward (default true); they are always in info",
	"retrieve_reward":   "reward for a gold passage first appearing in search results (default 0.1)",
	"open_reward":       "reward for first opening a gold passage (default 0.1)",
	"judge_reward":      "reward for a correct judge (default 0.05)",
}

func defaultConfig() config {
	return config{
		passages: 20000, questionsPerHop: 250, progress: true,
		topK: 5, maxSteps: 20, maxQueryChars: 200, snippetChars: 160, maxOpenChars: 2000,
		finalReward: "f1", processRewards: true, retrieveReward: 0.1, openReward: 0.1, judgeReward: 0.05,
	}
}

// parseConfig reads opts; allowed names the options this env id takes.
// Errors name the option and what was expected.
func parseConfig(opts map[string]any, allowed []string) (config, error) {
	c := defaultConfig()
	for name := range opts {
		if !slices.Contains(allowed, name) {
			hint := ""
			if near := gym.Nearest(name, allowed, 1); len(near) > 0 {
				hint = fmt.Sprintf(" (did you mean %q?)", near[0])
			}
			return c, fmt.Errorf("unknown option %q%s; options: %s", name, hint, strings.Join(allowed, ", "))
		}
	}
	var err error
	get := func(name string, f func(v any) error) {
		if v, ok := opts[name]; ok && err == nil && v != nil {
			if e := f(v); e != nil {
				err = fmt.Errorf("option %q: %w (%s)", name, e, optionDocs[name])
			}
		}
	}
	intIn := func(dst *int, lo, hi int) func(any) error {
		return func(v any) error {
			n, e := asInt(v)
			if e != nil {
				return e
			}
			if n < lo || n > hi {
				return fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
			}
			*dst = n
			return nil
		}
	}
	floatIn := func(dst *float64) func(any) error {
		return func(v any) error {
			f, e := asFloat(v)
			if e != nil {
				return e
			}
			if f < 0 || f > 10 {
				return fmt.Errorf("%g is out of range 0..10", f)
			}
			*dst = f
			return nil
		}
	}
	str := func(dst *string) func(any) error {
		return func(v any) error {
			s, ok := v.(string)
			if !ok || s == "" {
				return fmt.Errorf("want a non-empty string, got %v", v)
			}
			*dst = s
			return nil
		}
	}
	boolean := func(dst *bool) func(any) error {
		return func(v any) error {
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("want true or false, got %v", v)
			}
			*dst = b
			return nil
		}
	}
	var seed int
	get("seed", intIn(&seed, 0, math.MaxInt))
	c.seed = uint64(seed)
	get("passages", intIn(&c.passages, 500, 5_000_000))
	get("questions_per_hop", intIn(&c.questionsPerHop, 1, 100_000))
	get("corpus", str(&c.corpusPath))
	get("questions", str(&c.questionsPath))
	get("cache_dir", str(&c.cacheDir))
	get("progress", boolean(&c.progress))
	get("top_k", intIn(&c.topK, 1, 20))
	get("max_steps", intIn(&c.maxSteps, 1, 200))
	get("max_query_chars", intIn(&c.maxQueryChars, 10, 10_000))
	get("snippet_chars", intIn(&c.snippetChars, 20, 2000))
	get("max_open_chars", intIn(&c.maxOpenChars, 100, 1_000_000))
	get("final_reward", func(v any) error {
		if v != "f1" && v != "em" {
			return fmt.Errorf(`want "f1" or "em", got %v`, v)
		}
		c.finalReward = v.(string)
		return nil
	})
	get("process_rewards", boolean(&c.processRewards))
	get("retrieve_reward", floatIn(&c.retrieveReward))
	get("open_reward", floatIn(&c.openReward))
	get("judge_reward", floatIn(&c.judgeReward))
	if err != nil {
		return c, err
	}
	if c.cacheDir == "" {
		c.cacheDir = defaultCacheDir()
	}
	return c, nil
}

func defaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		// No home: a per-machine temp location still lets processes share.
		base = filepath.Join(os.TempDir(), "envgym-cache")
	}
	return filepath.Join(base, "envgym", "search")
}

// asInt accepts the number types JSON decoding and Go callers produce.
func asInt(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case int32:
		return int(n), nil
	case uint64:
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, fmt.Errorf("want an integer, got %v", n)
		}
		return int(n), nil
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %v", n)
		}
		return int(i), nil
	}
	return 0, fmt.Errorf("want an integer, got %T %v", v, v)
}

func asFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case json.Number:
		return n.Float64()
	}
	i, err := asInt(v)
	if err != nil {
		return 0, fmt.Errorf("want a number, got %T %v", v, v)
	}
	return float64(i), nil
}
