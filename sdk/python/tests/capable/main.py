"""A test env that uses every part of the Python SDK: tasks, make and
reset options, valid actions, snapshot/restore, render, screenshot, info,
and the SDK's step limit."""
import json

import envgym

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # binary, not UTF-8


class Counter(envgym.Env):
    spec = envgym.Spec(
        id="test/counter-py-v0", version="0.2.0", max_steps=6, deterministic=True,
        description="Count up or down to a target.",
        tasks=[envgym.Task("up", "reach start+3"), "down"],
        action_space='"inc" or "dec"', components={"python": "3"})

    def reset(self, seed, task_id, options):
        self.n = int(options.get("start", seed % 10))
        step = int(self.options.get("step", 1))
        self.delta = -step if task_id == "down" else step
        self.target = self.n + 3 * self.delta
        return envgym.Observation(self._text(), info={"target": self.target})

    def _text(self):
        return f"n={self.n}, target={self.target}"

    def step(self, action):
        if action not in ("inc", "dec"):
            return envgym.invalid(self._text(), 'write "inc" or "dec"')
        self.n += abs(self.delta) if action == "inc" else -abs(self.delta)
        won = self.n == self.target
        return self._text(), float(won), won, False, {"n": self.n}  # Gymnasium's tuple

    def valid_actions(self):
        return ["inc", "dec"]

    def snapshot(self):
        return json.dumps([self.n, self.delta, self.target])

    def restore(self, data):
        self.n, self.delta, self.target = json.loads(data)
        return self._text()

    def render(self):
        return "[" + "#" * max(self.n, 0) + "]"

    def screenshot(self):
        return PNG


if __name__ == "__main__":
    envgym.serve(Counter)
