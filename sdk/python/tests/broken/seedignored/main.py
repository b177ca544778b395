"""Broken on purpose: every generator is seeded with a constant, so every
seed plays the same episode; `gym check` must fail "seed_sensitivity"."""
import random

import envgym


class Fixed(envgym.Env):
    spec = envgym.Spec(id="broken/seedignored-py-v0", version="0.1.0", max_steps=6, deterministic=True)

    def reset(self, seed, task_id, options):
        self.target, self.n = random.Random(0).randint(2, 4), 0  # ignores seed
        return envgym.Observation("count 0", valid_actions=["inc"])

    def step(self, action):
        if action != "inc":
            return envgym.invalid("count %d" % self.n, 'say "inc"')
        self.n += 1
        done = self.n == self.target
        return envgym.StepResult(envgym.Observation("count %d" % self.n, valid_actions=["inc"]), reward=float(done), terminated=done)


if __name__ == "__main__":
    envgym.serve(Fixed)
