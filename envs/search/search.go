// Package search is the search environment: an agent answers a question
// by searching a local BM25 index (bleve), opening passages, judging
// results and finally answering, as in Search-R1, ReSeek and
// DeepResearch-style agents.
//
// Two env ids:
//
//   - search/fictional-v0 plays on a generated fictional knowledge base
//     (package kb): invented people, places, organisations and events, so
//     answers cannot come from a model's memory; questions of 1–4 hops.
//   - search/custom-v0 plays on your own JSONL corpus and questions
//     (options "corpus" and "questions").
//
// Rewards: the answer scores exact match or token F1 against the gold
// answers (SQuAD normalisation); process rewards fire the first time a
// gold supporting passage shows up in search results or is opened, and
// for a correct judge. Every part is reported in Observation.Info
// ("reward_parts", "em", "f1", "success"), so trainers can use
// outcome-only or stepwise rewards.
//
// The index is built once per corpus content into a cache directory and
// shared by all instances a registry makes.
package search

import (
	"context"
	"os"

	"github.com/envgym/envgym/envs/search/kb"
	"github.com/envgym/envgym/gym"
)

// Version is recorded in trajectories.
const Version = "0.1.0"

// Env ids.
const (
	FictionalID = "search/fictional-v0"
	CustomID    = "search/custom-v0"
)

var allTasks = []gym.Task{
	{ID: "all", Description: "any question"},
	{ID: "1hop", Description: "questions answered by one passage"},
	{ID: "2hop", Description: "questions needing two passages"},
	{ID: "3hop", Description: "questions needing three passages"},
	{ID: "4hop", Description: "questions needing four passages"},
	{ID: "bridge", Description: "multi-hop questions through a bridge entity"},
	{ID: "comparison", Description: "questions comparing two entities"},
}

const observationSpace = "Text: the question, then the result of the last action " +
	"(search results as `[rank] doc_id | title: snippet` lines, or a passage), and the steps left."

const actionSpace = `One action per step:
  search("query")       top-k passages by BM25: doc ids, titles and snippets
  open(doc_id)          the full text of a passage
  judge(useful)         judge the last result (search results or opened passage):
  judge(not_useful)       useful if it contains a passage supporting the answer
  answer("text")        give the final answer; ends the episode
Arguments are double- or single-quoted strings with backslash escapes, or bare text.`

func baseSpec(id, desc string, fictional bool) gym.Spec {
	s := gym.Spec{
		ID: id, Version: Version, Description: desc, Tasks: allTasks,
		MaxSteps: defaultConfig().maxSteps, ObservationSpace: observationSpace, ActionSpace: actionSpace,
		Deterministic: true,
		Components:    map[string]string{"bleve": "v2.6.3"},
		Capabilities:  []string{"Oracle", "Renderer", "Snapshotter", "ValidActioner"},
	}
	if fictional {
		s.Components["kb"] = kb.Version
	}
	return s
}

// Register adds search/fictional-v0 and search/custom-v0 to r. The
// instances r makes share loaded corpora and open indexes.
func Register(r *gym.Registry) error {
	return register(r, newStore(os.Stderr))
}

func register(r *gym.Registry, st *store) error {
	fictional := baseSpec(FictionalID,
		"Multi-hop questions (1–4 hops, bridge and comparison) over a generated fictional encyclopedia (default 20,000 passages), searched with BM25.", true)
	if err := r.Register(fictional, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		c, err := parseConfig(opts, []string{"seed", "passages", "questions_per_hop", "cache_dir", "progress",
			"top_k", "max_steps", "max_query_chars", "snippet_chars", "max_open_chars",
			"final_reward", "process_rewards", "retrieve_reward", "open_reward", "judge_reward"})
		if err != nil {
			return nil, err
		}
		db, err := st.fictional(ctx, c)
		if err != nil {
			return nil, err
		}
		return newEnv(fictional, c, db), nil
	}); err != nil {
		return err
	}
	custom := baseSpec(CustomID,
		`Questions over your own corpus: options "corpus" (JSONL {id, title, text}) and "questions" (JSONL {question, answers[], supporting_ids[]?}).`, false)
	return r.Register(custom, func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		c, err := parseConfig(opts, []string{"corpus", "questions", "cache_dir", "progress",
			"top_k", "max_steps", "max_query_chars", "snippet_chars", "max_open_chars",
			"final_reward", "process_rewards", "retrieve_reward", "open_reward", "judge_reward"})
		if err != nil {
			return nil, err
		}
		db, err := st.custom(ctx, c)
		if err != nil {
			return nil, err
		}
		return newEnv(custom, c, db), nil
	})
}
