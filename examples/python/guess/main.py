"""Guess a secret number from 1 to 100; the env says higher or lower.

The Python twin of examples/guess: a complete env plugin in under 50 lines.
The plugin directory holds this file and the envgym package (see
sdk/python/README.md).
"""
import random
import re

import envgym


class Guess(envgym.Env):
    spec = envgym.Spec(
        id="example/guess-py-v0", version="0.1.0", max_steps=10, deterministic=True,
        description="Guess a secret number from 1 to 100; the env says higher or lower.",
        action_space='"guess N" with N an integer from 1 to 100')

    def reset(self, seed, task_id, options):
        # All randomness from the seed: same seed, same episode.
        self.secret, self.lo, self.hi = random.Random(seed).randint(1, 100), 1, 100
        return "I picked a number from 1 to 100. Guess it."

    def step(self, action):
        # The SDK counts steps (invalid ones too) and truncates at max_steps.
        m = re.fullmatch(r"guess (\d{1,3})", action.strip())
        n = int(m.group(1)) if m else 0
        if not 1 <= n <= 100:
            return envgym.invalid("Guess a number from 1 to 100.", 'write "guess N" with 1 <= N <= 100')
        if n < self.secret:
            self.lo = max(self.lo, n + 1)
            return envgym.StepResult(envgym.Observation(f"{n} is too low: higher."))
        if n > self.secret:
            self.hi = min(self.hi, n - 1)
            return envgym.StepResult(envgym.Observation(f"{n} is too high: lower."))
        return envgym.StepResult(envgym.Observation("Correct!", info={"success": True}), reward=1.0, terminated=True)

    def oracle_action(self):
        """Binary search: a capability the host discovers (gym.Oracle)."""
        return f"guess {(self.lo + self.hi) // 2}"


if __name__ == "__main__":
    envgym.serve(Guess)
