"""One env instance on the plugin side: turns wire requests into calls on
an Env and its results into wire responses. The Python twin of the
session type in sdk/serve.go; both transports (gRPC stream and framed
socket) drive it.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import traceback
from typing import Any, Optional

from ._proto import env_pb2 as pb
from .env import (
    Closed,
    ContractError,
    EpisodeDone,
    NotReset,
    Observation,
    Spec,
    Status,
    StepResult,
    UnknownTask,
    Unsupported,
    capabilities,
)

_KINDS = (
    (NotReset, pb.ERROR_KIND_NOT_RESET),
    (EpisodeDone, pb.ERROR_KIND_EPISODE_DONE),
    (Closed, pb.ERROR_KIND_CLOSED),
    (UnknownTask, pb.ERROR_KIND_UNKNOWN_TASK),
    (Unsupported, pb.ERROR_KIND_UNSUPPORTED),
    (TimeoutError, pb.ERROR_KIND_DEADLINE),
)

# Messages of the Go sentinels, so errors read the same from both SDKs.
_MESSAGES = {
    NotReset: "gym: step before reset",
    EpisodeDone: "gym: step after the episode ended; call Reset",
    Closed: "gym: env is closed",
    UnknownTask: "gym: unknown task",
    Unsupported: "gym: capability not supported by this env",
}

# Snapshots carry the SDK's step count, so max_steps holds across restore.
_SNAP_MAGIC = b"envgym-snap1"
_SNAP_HEADER = struct.Struct("<12sQ")


def _err(exc: BaseException) -> pb.Response:
    kind = pb.ERROR_KIND_OTHER
    for cls, k in _KINDS:
        if isinstance(exc, cls):
            kind = k
            break
    msg = str(exc)
    base = _MESSAGES.get(type(exc))
    if base and base not in msg:
        msg = base + (": " + msg if msg else "")
    return pb.Response(error_kind=kind, error=msg or type(exc).__name__)


def _text(s: str) -> bytes:
    return s.encode("utf-8", "replace")


def _env_error(msg: str, tb: str) -> pb.Response:
    """The result of a step that failed inside the env: the episode is cut
    short (truncated) with status ENV_ERROR, and the traceback goes in info
    so whoever reads the trajectory sees where."""
    info = json.dumps({"error": msg, "traceback": tb}).encode()
    return pb.Response(
        observation=pb.Observation(text=_text("The environment failed: " + msg), info_json=info),
        truncated=True,
        status=int(Status.ENV_ERROR),
        error=msg,
    )


def _as_observation(value: Any, what: str) -> Observation:
    if isinstance(value, Observation):
        return value
    if isinstance(value, str):
        return Observation(value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        obs = _as_observation(value[0], what)
        if value[1]:
            obs.info = {**(obs.info or {}), **value[1]}
        return obs
    raise TypeError(f"{what} returned {type(value).__name__}; want an envgym.Observation, a str, or (observation, info)")


def _as_step_result(value: Any) -> StepResult:
    if isinstance(value, StepResult):
        return value
    if isinstance(value, tuple) and len(value) == 5:
        obs, reward, terminated, truncated, info = value
        obs = _as_observation(obs, "step")
        if info:
            obs.info = {**(obs.info or {}), **dict(info)}
        return StepResult(obs, float(reward), bool(terminated), bool(truncated))
    raise TypeError(
        f"step returned {type(value).__name__}; want an envgym.StepResult or "
        "(observation, reward, terminated, truncated, info)"
    )


class Session:
    """One env instance, driven by one transport connection."""

    def __init__(self, registry: dict, live: "LiveSet"):
        self.registry = registry
        self.live = live
        self.env_id = ""
        self.options: dict[str, Any] = {}
        self.spec: Optional[Spec] = None
        self.factory = None
        self.env = None
        self.episode = False  # a reset succeeded on the current instance
        self.done = False
        self.steps = 0
        self.closed = False

    # -- life cycle -------------------------------------------------------

    def close(self) -> None:
        self.closed = True
        self._drop()

    def _drop(self) -> None:
        env, self.env = self.env, None
        self.episode = False
        if env is None:
            return
        self.live.discard(env)
        try:
            env.close()
        except Exception:  # a failing close must not take the plugin down
            traceback.print_exc(file=sys.stderr)

    def _new_env(self):
        env = self.factory(dict(self.options))
        if env is None:
            raise TypeError(f"the factory of {self.env_id} returned None")
        self.live.add(env)
        return env

    # -- requests ---------------------------------------------------------

    def handle(self, req: pb.Request) -> pb.Response:
        kind = req.WhichOneof("kind")
        deadline = req.deadline_unix_nano / 1e9 if req.deadline_unix_nano > 0 else None
        if self.env is not None:
            self.env.deadline = deadline
        try:
            if kind == "make":
                return self._make(req.make)
            if self.closed:
                raise Closed()
            if kind == "reset":
                return self._reset(req.reset, deadline)
            if kind == "step":
                return self._step(req.step)
            if kind == "call":
                return self._call(req.call)
            return pb.Response(error_kind=pb.ERROR_KIND_OTHER, error="envgym: empty request")
        except (ContractError, TimeoutError) as e:
            return _err(e)
        except Exception as e:
            # The env is in an unknown state: drop it, and let the next
            # reset build a fresh one. The plugin keeps serving.
            tb = traceback.format_exc()
            msg = f"{type(e).__name__}: {e}"
            sys.stderr.write(f"envgym: {self.env_id} {kind} raised:\n{tb}")
            sys.stderr.flush()
            self._drop()
            self.done = True
            if kind == "step":
                return _env_error(msg, tb)
            return pb.Response(error_kind=pb.ERROR_KIND_OTHER, error=f"{kind}: {msg}\n{tb}")

    def _make(self, m: pb.Make) -> pb.Response:
        if self.env_id:
            return pb.Response(error_kind=pb.ERROR_KIND_OTHER, error="envgym: session already has an env")
        if m.env_id not in self.registry:
            known = ", ".join(sorted(self.registry))
            return pb.Response(
                error_kind=pb.ERROR_KIND_UNKNOWN_ENV,
                error=f"gym: unknown env id {m.env_id!r}; this plugin serves: {known}",
            )
        self.options = json.loads(m.options_json) if m.options_json else {}
        if self.options is None:
            self.options = {}
        self.env_id = m.env_id
        self.spec, self.factory = self.registry[m.env_id]
        self.env = self._new_env()
        return pb.Response(capabilities=capabilities(self.env))

    def _reset(self, r: pb.Reset, deadline) -> pb.Response:
        if not self.env_id:
            raise NotReset("reset before make")
        if r.task_id and self.spec.tasks:
            ids = [t if isinstance(t, str) else t.id for t in self.spec.tasks]
            if r.task_id not in ids:
                raise UnknownTask(f"{r.task_id!r}; {self.env_id} has tasks {ids}")
        opts = json.loads(r.options_json) if r.options_json else {}
        if self.env is None:
            self.env = self._new_env()
        self.env.deadline = deadline
        self.episode, self.done, self.steps = False, False, 0
        obs = _as_observation(self.env.reset(r.seed, r.task_id, opts or {}), "reset")
        self.episode = True
        return self._obs_response(obs)

    def _step(self, st: pb.Step) -> pb.Response:
        if self.env is None or not self.episode:
            raise NotReset()
        if self.done:
            raise EpisodeDone()
        action = st.action.decode("utf-8", "replace")
        self.steps += 1  # invalid actions count too, so every episode ends
        res = _as_step_result(self.env.step(action))
        truncated = res.truncated
        limit = self.spec.max_steps
        if limit and self.steps >= limit and not res.terminated:
            truncated = True
        self.done = res.terminated or truncated
        resp = self._obs_response(res.observation)
        if resp.status == Status.ENV_ERROR:
            self.done = True
            return resp
        resp.reward = float(res.reward)
        resp.terminated = bool(res.terminated)
        resp.truncated = bool(truncated)
        resp.status = int(res.status)
        return resp

    def _call(self, c: pb.Call) -> pb.Response:
        if self.env is None:
            raise NotReset()
        env, method = self.env, c.method
        if method == "Spec":
            return pb.Response(data=json.dumps(self.spec.to_json(capabilities(env))).encode())
        fn = {
            "ValidActions": "valid_actions",
            "Snapshot": "snapshot",
            "Restore": "restore",
            "Render": "render",
            "OracleAction": "oracle_action",
            "Screenshot": "screenshot",
        }.get(method)
        if fn is None or not callable(getattr(env, fn, None)) or (fn == "snapshot" and not callable(getattr(env, "restore", None))):
            raise Unsupported(method)
        if method == "ValidActions":
            return pb.Response(data=json.dumps(list(env.valid_actions())).encode())
        if method == "Snapshot":
            data = env.snapshot()
            data = data.encode() if isinstance(data, str) else bytes(data)
            return pb.Response(data=_SNAP_HEADER.pack(_SNAP_MAGIC, self.steps) + data)
        if method == "Restore":
            data, steps = c.data, 0
            if data[: len(_SNAP_MAGIC)] == _SNAP_MAGIC and len(data) >= _SNAP_HEADER.size:
                steps = _SNAP_HEADER.unpack_from(data)[1]
                data = data[_SNAP_HEADER.size :]
            obs = _as_observation(env.restore(data), "restore")
            self.episode, self.done, self.steps = True, False, steps
            return self._obs_response(obs)
        if method == "Screenshot":
            return pb.Response(data=bytes(env.screenshot()))
        out = getattr(env, fn)()  # render, oracle_action: text
        return pb.Response(data=_text(out if isinstance(out, str) else str(out)))

    def _obs_response(self, obs: Observation) -> pb.Response:
        valid = obs.valid_actions
        if valid is None and self.env is not None and callable(getattr(self.env, "valid_actions", None)):
            valid = self.env.valid_actions()
        o = pb.Observation(text=_text(obs.text), screenshot=obs.screenshot or b"")
        if valid:
            o.valid_actions.extend(str(a) for a in valid)
        if obs.info:
            try:
                o.info_json = json.dumps(obs.info).encode()
            except (TypeError, ValueError) as e:
                return _env_error(f"observation info is not JSON-serialisable: {e}", "")
        return pb.Response(observation=o)


class LiveSet:
    """The env instances alive in the process, closed on shutdown so envs
    that started subprocesses clean them up."""

    def __init__(self):
        self._lock = threading.Lock()
        self._envs: dict[int, Any] = {}

    def add(self, env) -> None:
        with self._lock:
            self._envs[id(env)] = env

    def discard(self, env) -> None:
        with self._lock:
            self._envs.pop(id(env), None)

    def close_all(self) -> None:
        with self._lock:
            envs, self._envs = list(self._envs.values()), {}
        for env in envs:
            try:
                env.close()
            except Exception:
                traceback.print_exc(file=sys.stderr)
