// Package trainer trains small libtorch (gotch) policies on gym envs:
// a policy that scores the env's candidate actions, PPO and GRPO, and
// SPA stepwise rewards (a progress estimator whose per-step contributions
// sum to the episode outcome, plus a grounding bonus).
package trainer
