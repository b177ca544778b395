"""Serve an existing Gymnasium-style env with text observations.

Anything with Gymnasium's reset(seed=..., options=...) -> (obs, info) and
step(action) -> (obs, reward, terminated, truncated, info) works; Gymnasium
itself is not needed:

    spec = envgym.Spec(id="py/wordle-v0", version="1.0.0", max_steps=6, deterministic=True)
    envgym.serve({spec.id: (spec, envgym.from_gymnasium(WordleEnv))})
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Sequence

from .env import Env, Factory, Observation, StepResult, invalid


def _text(obs: Any) -> str:
    if isinstance(obs, str):
        return obs
    if isinstance(obs, (bytes, bytearray)):
        return bytes(obs).decode("utf-8", "replace")
    return str(obs)


def _jsonable(info: Any) -> Optional[dict]:
    """Gymnasium infos often hold numpy values: keep what JSON can carry,
    and the repr of the rest."""
    if not info:
        return None
    return json.loads(json.dumps(dict(info), default=repr))


class GymnasiumEnv(Env):
    """Adapts one Gymnasium-style env instance to envgym.Env.

    An action outside inner.action_space (when the env has one with a
    contains method), or one whose step raises one of the exception types
    in invalid_errors, is an INVALID_ACTION observation and the episode
    goes on. Any other exception is an ENV_ERROR, as for every env.
    """

    def __init__(self, inner: Any, invalid_errors: Sequence[type] = ()):
        super().__init__()
        self.inner = inner
        self.invalid_errors = tuple(invalid_errors)
        self.last = ""

    def reset(self, seed: int, task_id: str, options: dict) -> Observation:
        kwargs: dict = {"seed": seed}
        if options:
            kwargs["options"] = options
        obs, info = self.inner.reset(**kwargs)
        self.last = _text(obs)
        return Observation(self.last, info=_jsonable(info))

    def step(self, action: str) -> StepResult:
        space = getattr(self.inner, "action_space", None)
        if space is not None and callable(getattr(space, "contains", None)) and not space.contains(action):
            return invalid(self.last, f"the action is not in the action space {space}")
        try:
            obs, reward, terminated, truncated, info = self.inner.step(action)
        except self.invalid_errors as e:
            return invalid(self.last, str(e) or type(e).__name__)
        self.last = _text(obs)
        return StepResult(Observation(self.last, info=_jsonable(info)), float(reward), bool(terminated), bool(truncated))

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def from_gymnasium(make: Callable[..., Any], invalid_errors: Sequence[type] = ()) -> Factory:
    """A factory for serve(): make(**options) builds the Gymnasium-style env
    (a class, gymnasium.make bound to an id, any callable)."""
    return lambda options: GymnasiumEnv(make(**(options or {})), invalid_errors)
