"""A Gymnasium-style env served through envgym's adapter.

Arithmetic is written as any Gymnasium env would be (reset(seed=...) ->
(obs, info), step(a) -> (obs, reward, terminated, truncated, info)) and
knows nothing of envgym; the last lines serve it. With Gymnasium
installed, from_gymnasium(lambda **kw: gymnasium.make("MyEnv-v0", **kw))
serves a registered env the same way.
"""
import random

import envgym


class Digits:
    """A tiny stand-in for gymnasium.spaces.Text: up to 4 digits."""

    def contains(self, x):
        return isinstance(x, str) and 0 < len(x.strip()) <= 4 and x.strip().isdigit()

    def __repr__(self):
        return "Digits(max_length=4)"


class Arithmetic:
    """Answer three sums; reward 1 for each right answer."""

    action_space = Digits()

    def __init__(self, questions=3):
        self.questions = questions

    def reset(self, seed=None, options=None):
        self.np_random = random.Random(seed)
        self.asked, self.score = 0, 0
        return self._ask(), {}

    def _ask(self):
        self.a, self.b = self.np_random.randint(1, 99), self.np_random.randint(1, 99)
        return f"What is {self.a} + {self.b}?"

    def step(self, action):
        right = int(action) == self.a + self.b
        self.asked += 1
        self.score += right
        terminated = self.asked >= self.questions
        obs = ("Right. " if right else "Wrong. ") + (f"Score {self.score}/{self.asked}." if terminated else self._ask())
        return obs, float(right), terminated, False, {"correct": right}


SPEC = envgym.Spec(
    id="example/arithmetic-py-v0", version="0.1.0", max_steps=10, deterministic=True,
    description="Answer three sums of two numbers (a Gymnasium-style env behind the adapter).",
    action_space="the answer, as digits")

if __name__ == "__main__":
    envgym.serve({SPEC.id: (SPEC, envgym.from_gymnasium(Arithmetic))})
