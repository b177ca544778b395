"""envgym_client: play envs served by `gym serve`, from Python, with the
standard library only.

    from envgym_client import Client

    client = Client("http://127.0.0.1:8080")            # HTTP/JSON
    env = client.make("text/maze-v0")
    obs, info = env.reset(seed=1, task="easy")
    while True:
        action = info["valid_actions"][0]
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    env.close()

    env = StreamEnv("127.0.0.1:8081", "text/maze-v0")   # the fast transport

Step returns Gymnasium's 5-tuple. `info` carries the env's own info plus
"valid_actions", "status" (OK, INVALID_ACTION, ENV_ERROR, TIMEOUT, CRASHED)
and "grounded"; a trainer should drop steps whose status is ENV_ERROR,
TIMEOUT or CRASHED from its loss: they are the infrastructure's fault.
"""

import base64
import json
import os
import socket
import urllib.error
import urllib.request

INFRA = ("ENV_ERROR", "TIMEOUT", "CRASHED")


class ServeError(Exception):
    """A request the server refused: status code, message, field at fault."""

    def __init__(self, code, message, field=""):
        super().__init__(f"{code}: {message}" + (f" (field {field!r})" if field else ""))
        self.code, self.message, self.field = code, message, field


def _info(obs, result=None):
    info = dict(obs.get("info") or {})
    info["valid_actions"] = obs.get("valid_actions") or []
    if obs.get("screenshot"):
        info["screenshot"] = base64.b64decode(obs["screenshot"])
    if result is not None:
        info["status"] = result.get("status", "OK")
        info["grounded"] = info["status"] == "OK"
    return info


def _five(result):
    obs = result["observation"]
    return (obs.get("text", ""), float(result.get("reward", 0.0)), bool(result.get("terminated")),
            bool(result.get("truncated")), _info(obs, result))


class Client:
    """An HTTP/JSON client of one `gym serve`."""

    def __init__(self, base_url, token=None, client_id=None, timeout=60.0):
        self.base = base_url.rstrip("/")
        self.token = token if token is not None else os.environ.get("GYM_SERVE_TOKEN")
        self.client_id = client_id
        self.timeout = timeout

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if self.client_id:
            req.add_header("X-Client-ID", self.client_id)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read())
            except ValueError:
                err = {"error": str(e)}
            raise ServeError(e.code, err.get("error", ""), err.get("field", "")) from None

    def specs(self):
        return self.request("GET", "/v1/specs")

    def make(self, env_id, **options):
        made = self.request("POST", "/v1/envs", {"env_id": env_id, "options": options or None})
        return HTTPEnv(self, made["session_id"], made["spec"])


class HTTPEnv:
    """One env session over HTTP."""

    def __init__(self, client, session_id, spec):
        self.client, self.session_id, self.spec = client, session_id, spec

    def reset(self, seed=0, task=None, options=None):
        body = {"seed": seed}
        if task:
            body["task_id"] = task
        if options:
            body["options"] = options
        obs = self.client.request("POST", f"/v1/envs/{self.session_id}/reset", body)
        return obs.get("text", ""), _info(obs)

    def step(self, action):
        return _five(self.client.request("POST", f"/v1/envs/{self.session_id}/step", {"action": action}))

    def close(self):
        self.client.request("DELETE", f"/v1/envs/{self.session_id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StreamEnv:
    """One env over the line-JSON stream transport: a TCP connection per env."""

    def __init__(self, address, env_id, token=None, client_id=None, timeout=60.0, **options):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.file = self.sock.makefile("rwb")
        token = token if token is not None else os.environ.get("GYM_SERVE_TOKEN")
        if token or client_id:
            self._call({"op": "auth", "token": token or "", "client": client_id or ""})
        made = self._call({"op": "make", "env_id": env_id, "options": options or None})
        self.session_id, self.spec = made["session_id"], made["spec"]

    def _call(self, req):
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        line = self.file.readline()
        if not line:
            raise ConnectionError("gym serve closed the connection")
        resp = json.loads(line)
        if resp.get("error"):
            raise ServeError(resp.get("code", 0), resp["error"], resp.get("field", ""))
        return resp

    def reset(self, seed=0, task=None, options=None):
        req = {"op": "reset", "seed": seed}
        if task:
            req["task_id"] = task
        if options:
            req["options"] = options
        obs = self._call(req)["observation"]
        return obs.get("text", ""), _info(obs)

    def step(self, action):
        return _five(self._call({"op": "step", "action": action})["result"])

    def close(self):
        try:
            self._call({"op": "close"})
        except (OSError, ServeError):
            pass
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VectorEnv:
    """N envs stepped together; an env whose episode ends is reset at once
    (its next observation is the new episode's first; the final one is in
    info["final_observation"])."""

    def __init__(self, envs, seed=0, task=None):
        self.envs, self.seed, self.task = envs, seed, task
        self.episodes = [0] * len(envs)

    def _seed(self, i):
        return self.seed + i + self.episodes[i] * len(self.envs)

    def reset(self):
        self.episodes = [0] * len(self.envs)
        out = [env.reset(seed=self._seed(i), task=self.task) for i, env in enumerate(self.envs)]
        return [o for o, _ in out], [inf for _, inf in out]

    def step(self, actions):
        results = []
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            obs, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                info["final_observation"] = obs
                self.episodes[i] += 1
                obs, reset_info = env.reset(seed=self._seed(i), task=self.task)
                info["valid_actions"] = reset_info["valid_actions"]
            results.append((obs, reward, terminated, truncated, info))
        return tuple(list(x) for x in zip(*results))

    def close(self):
        for env in self.envs:
            env.close()
