"""Broken on purpose: the episode depends on the global random module, not
on the seed, so `gym check` must fail its "determinism" check."""
import random

import envgym


class Lucky(envgym.Env):
    spec = envgym.Spec(id="broken/nondeterministic-py-v0", version="0.1.0", max_steps=5, deterministic=True)

    def reset(self, seed, task_id, options):
        return f"Your lucky number is {random.randint(1, 1_000_000)}."  # ignores seed

    def step(self, action):
        return envgym.invalid("Nothing to do.", "no action does anything here")


if __name__ == "__main__":
    envgym.serve(Lucky)
