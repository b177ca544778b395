// Package gym is the environment contract of the gym: the Env interface,
// its step Status, optional capabilities, the registry of env ids, wrappers
// and vector envs.
//
// The vocabulary follows Gymnasium (reset with a seed, step returning
// reward, terminated and truncated, a registry of ids like
// "family/name-v0", wrappers by composition) and adds what LLM agents need:
// text observations, actions as strings the env parses, the list of valid
// actions, and a typed Status per step. Status separates the agent's
// mistakes (INVALID_ACTION) from infrastructure failures (ENV_ERROR,
// TIMEOUT, CRASHED) so trainers can mask the latter out of the loss.
//
// Nothing in this package imports plugins, envs or trainers: an env served
// by a plugin process and an env built in-process are both just an Env.
package gym
