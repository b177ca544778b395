"""envgym: write gym env plugins in Python.

    import envgym

    class Echo(envgym.Env):
        spec = envgym.Spec(id="py/echo-v0", version="0.1.0", max_steps=5, deterministic=True)

        def reset(self, seed, task_id, options):
            return "Say something."

        def step(self, action):
            if not action.strip():
                return envgym.invalid("Say something.", "the action is empty")
            return envgym.StepResult(envgym.Observation("You said: " + action), reward=1.0)

    if __name__ == "__main__":
        envgym.serve(Echo)

The host runs the script, checksum-verified and sandboxed, exactly like a
Go plugin; `gym check` runs the same conformance suite on it. Only
Debian's python3-grpcio and python3-protobuf are needed.
"""

from .env import (
    Closed,
    ContractError,
    Env,
    EpisodeDone,
    NotReset,
    Observation,
    Spec,
    Status,
    StepResult,
    Task,
    UnknownTask,
    Unsupported,
    invalid,
)
from .gymnasium import GymnasiumEnv, from_gymnasium
from .serve import SDK_VERSION, serve

__all__ = [
    "Closed",
    "ContractError",
    "Env",
    "EpisodeDone",
    "GymnasiumEnv",
    "NotReset",
    "Observation",
    "SDK_VERSION",
    "Spec",
    "Status",
    "StepResult",
    "Task",
    "UnknownTask",
    "Unsupported",
    "from_gymnasium",
    "invalid",
    "serve",
]
