// Package worldmodel is a learned simulator that stands in for a real env
// behind the gym contract ("dream" envs), after DreamGym and WebEvolver.
//
// It has three parts:
//
//   - a replay Buffer of real transitions (trajectory JSONL, or collected
//     from any gym.Env with a random/oracle policy), indexed for exact
//     cosine nearest-neighbour retrieval by (observation, action), where
//     an action is grounded in the element it targets (click(5) is "click
//     link B01448 …"), lines fixed per episode (the goal) are ignored, and
//     transitions from the same state under the same action rank first;
//   - a Model that, for (observation, action), predicts the next
//     observation, its valid actions, the reward, termination and the step
//     status, each with a confidence. The next observation is chosen among
//     candidates built from the buffer: the real next observations of the
//     nearest transitions, and "analogical edits" of the current
//     observation (apply the neighbour's obs→next change, line by line,
//     to the current text; or apply its line diff, keeping our lines; the
//     neighbour's element, page fields and URL mapped onto ours). A
//     learned transition embedding (two MLPs,
//     trained with libtorch through gotch) scores the candidates against
//     (observation, action), plus a learned prior on each candidate's
//     provenance (source, same-state, agreement); its softmax is the
//     observation confidence.
//     Heads on the same embedding predict reward (as a class among the
//     rewards seen), termination and status. Inference is plain Go, so a
//     dream step needs no libtorch and is safe from any goroutine. The
//     buffer's candidate encodings are computed once (infer.go), and
//     features and predictions are memoised;
//     training needs libtorch;
//   - Env and Register: "dream/<family>.<name>-vN" ids (the gym id
//     pattern allows one slash, so "text/maze-v0" dreams as
//     "dream/text.maze-v0"), with modes dream, mixed (a fraction of the
//     episodes played in the real env) and shadow (the real env runs, the
//     model predicts beside it and reports its divergence in Info);
//   - Curriculum: DreamGym's curriculum, start states weighted by the
//     policy's reward variance plus synthesised goal variations
//     (RegisterCurriculum); the sim-to-real experiment that uses them is
//     experiment.SimToReal.
//
// Fidelity measures a model on held-out transitions and both envs' speed.
package worldmodel
