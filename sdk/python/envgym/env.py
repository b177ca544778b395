"""The env contract, in Python: the same vocabulary as Go's package gym.

An env is one instance of an environment. One thread drives it at a time,
as in Gymnasium; the plugin runs one instance per session the host opens,
so authors never lock anything.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Mapping, Optional, Sequence, Union


class Status(enum.IntEnum):
    """Outcome class of a step, as gym.Status on the Go side."""

    OK = 0
    INVALID_ACTION = 1  # the action did not parse or could not execute
    ENV_ERROR = 2  # the env itself failed (an exception in step)
    TIMEOUT = 3  # the env did not answer before the caller's deadline
    CRASHED = 4  # the plugin process died


# Contract errors. Raise them from an env (or let the SDK raise them for
# you: it already refuses step before reset and step after the episode
# ended); the host sees the matching Go sentinel (errors.Is works).
class ContractError(Exception):
    """Misuse of the env contract by the caller, not a failure of the env."""


class NotReset(ContractError):
    """step before the first reset."""


class EpisodeDone(ContractError):
    """step after the episode ended: call reset."""


class Closed(ContractError):
    """the env was closed."""


class UnknownTask(ContractError):
    """reset with a task id the env does not have."""


class Unsupported(ContractError):
    """a capability the env does not implement."""


@dataclasses.dataclass
class Observation:
    """What the agent sees. text is required: it is what an LLM reads."""

    text: str
    screenshot: bytes = b""  # optional PNG
    # Set where the env can enumerate them. Left None, the SDK fills it
    # from the env's valid_actions() when the env has one.
    valid_actions: Optional[list[str]] = None
    # Free-form, JSON-serialisable detail (reward parts, success, the error
    # behind an invalid action). Policies should not need it.
    info: Optional[dict[str, Any]] = None


@dataclasses.dataclass
class StepResult:
    """The outcome of one step.

    terminated: the episode reached a terminal state of the task (success
    or failure). truncated: it was cut short from outside (step limit,
    infrastructure failure). Gymnasium's distinction, kept because value
    bootstrapping depends on it.
    """

    observation: Observation
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    status: Status = Status.OK

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclasses.dataclass
class Task:
    id: str
    description: str = ""


@dataclasses.dataclass
class Spec:
    """Describes an env id to the host, `gym list` and trajectory records.

    id is "family/name-v0"; version is the implementation's version (bump
    it when behaviour changes: trajectories record it). max_steps > 0 makes
    the SDK truncate the episode at that many steps, invalid ones included,
    as Gymnasium's TimeLimit does. deterministic promises that the same
    seed and actions give the same observations; `gym check` verifies it.
    """

    id: str
    version: str
    description: str = ""
    tasks: Sequence[Union[Task, str]] = ()
    max_steps: int = 0
    observation_space: str = ""
    action_space: str = ""
    deterministic: bool = False
    components: Optional[Mapping[str, str]] = None

    def to_json(self, capabilities: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON form of gym.Spec (its field tags, omitempty kept)."""
        out: dict[str, Any] = {"id": self.id, "version": self.version}
        if self.description:
            out["description"] = self.description
        if self.tasks:
            tasks = []
            for t in self.tasks:
                t = Task(t) if isinstance(t, str) else t
                tasks.append({"id": t.id, "description": t.description} if t.description else {"id": t.id})
            out["tasks"] = tasks
        if self.max_steps:
            out["max_steps"] = int(self.max_steps)
        if self.observation_space:
            out["observation_space"] = self.observation_space
        if self.action_space:
            out["action_space"] = self.action_space
        out["deterministic"] = bool(self.deterministic)
        if self.components:
            out["components"] = dict(self.components)
        if capabilities:
            out["capabilities"] = list(capabilities)
        return out


class Env:
    """Base class of an env. Subclass it and implement reset and step.

    Optional capabilities are methods the host discovers; define only the
    ones the env really has (no stubs):

      valid_actions() -> list[str]          the actions that parse now
      snapshot() -> bytes                   freeze the state...
      restore(data: bytes) -> Observation   ...and return to it (both needed)
      render() -> str                       a human-readable view
      oracle_action() -> str                a good next action (for tests, BC)
      screenshot() -> bytes                 a PNG of the current state

    The SDK enforces the life cycle for you: step before reset raises
    NotReset, step after the episode ended raises EpisodeDone, and any
    call after close raises Closed. An exception raised by step becomes an
    ENV_ERROR result with the traceback in info; the instance is dropped
    and the next reset builds a fresh one, so the plugin keeps serving.
    """

    #: Set on a subclass to serve it with envgym.serve(MyEnv).
    spec: Optional[Spec] = None

    #: Deadline of the current call in time.time() seconds, or None. Long
    #: steps should give up when it passes: the host has stopped waiting.
    deadline: Optional[float] = None

    def __init__(self, options: Optional[dict[str, Any]] = None):
        """options are the env-specific options of the host's Make."""
        self.options = options or {}

    def reset(self, seed: int, task_id: str, options: dict[str, Any]) -> Union[Observation, str]:
        """Start a new episode.

        Two resets with the same seed and task_id, followed by the same
        actions, must produce the same observations and rewards: derive all
        randomness from seed (random.Random(seed)), never from the clock or
        the global random module. task_id "" means the first task.
        """
        raise NotImplementedError

    def step(self, action: str) -> Union[StepResult, tuple]:
        """Parse and execute one action.

        Return a StepResult, or Gymnasium's tuple (observation, reward,
        terminated, truncated, info). A malformed or impossible action is
        not an exception: return invalid(observation, why) so the agent
        learns what was wrong, and the episode goes on.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the instance holds (subprocesses, files)."""


def invalid(obs: Union[Observation, str], why: str) -> StepResult:
    """The result of an action the env could not parse or execute: no
    reward, the episode goes on, and the text tells the agent why."""
    if isinstance(obs, str):
        obs = Observation(obs)
    info = dict(obs.info or {})
    info["error"] = why
    obs = dataclasses.replace(obs, text="Invalid action: " + why + "\n\n" + obs.text, info=info)
    return StepResult(obs, status=Status.INVALID_ACTION)


Factory = Callable[[dict[str, Any]], Env]

# Capability names as the Go host knows them (gym.Capabilities), and the
# methods that make them.
CAPABILITIES = (
    ("ValidActioner", ("valid_actions",)),
    ("Snapshotter", ("snapshot", "restore")),
    ("Renderer", ("render",)),
    ("Oracle", ("oracle_action",)),
    ("Screenshotter", ("screenshot",)),
)


def capabilities(env: object) -> list[str]:
    """The capability names env implements."""
    return sorted(name for name, methods in CAPABILITIES if all(callable(getattr(env, m, None)) for m in methods))
