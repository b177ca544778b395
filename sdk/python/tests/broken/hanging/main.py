"""Broken on purpose: step never returns. The host must give up at the
caller's deadline (TIMEOUT), and the plugin must still answer others."""
import threading

import envgym


class Hanging(envgym.Env):
    spec = envgym.Spec(id="broken/hanging-py-v0", version="0.1.0", max_steps=5, deterministic=True)

    def reset(self, seed, task_id, options):
        return "Step, and wait forever."

    def step(self, action):
        threading.Event().wait()  # never set


if __name__ == "__main__":
    envgym.serve(Hanging)
