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

    pool = Pool("tasks.envgym_core:8081")   # every replica the name resolves to
    envs = pool.vector("text/maze-v0", 16)  # spread over them; survives a replica's death
    print(pool.stats())                      # per replica: episodes, steps, steps_per_s, failures

OpenEnv (meta-pytorch/OpenEnv's protocol, which gym serve also speaks) and
TRL's environment_factory:

    from envgym_client import OpenEnvClient, EnvgymEnv
    with OpenEnvClient.for_env("http://127.0.0.1:8080", "web/shop-v0") as env:
        r = env.reset(seed=3)
        r = env.step({"action": r.valid_actions[0]})   # r.reward, r.done, r.status, r.infra
    ShopEnv = EnvgymEnv.for_env("http://127.0.0.1:8080", "web/shop-v0")  # GRPOTrainer(environment_factory=ShopEnv)

Step returns Gymnasium's 5-tuple. `info` carries the env's own info plus
"valid_actions", "status" (OK, INVALID_ACTION, ENV_ERROR, TIMEOUT, CRASHED)
and "grounded"; a trainer should drop steps whose status is ENV_ERROR,
TIMEOUT or CRASHED from its loss: they are the infrastructure's fault.
"""

import base64
import json
import os
import socket
import threading
import time
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


class Stalled(socket.timeout):
    """The server accepted a call but stopped answering, even a health probe
    on a new connection: a paused container, a stopped process, a partition."""


def _probe(address, timeout):
    """None when the stream server at address answers a ping within timeout
    (any line: an older server's "unknown op" too), else why not."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b'{"op":"ping"}\n')
            data = b""
            while b"\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return "closed without an answer"
                data += chunk
            return None
    except OSError as e:
        return str(e) or type(e).__name__


class StreamEnv:
    """One env over the line-JSON stream transport: a TCP connection per env.

    A call that waits longer than probe_after seconds probes the server on a
    new connection (the stream's ping op) every probe_after seconds: a slow
    env on a live server keeps its call (up to timeout); an unanswered probe
    raises Stalled (a socket.timeout) at once."""

    def __init__(self, address, env_id, token=None, client_id=None, timeout=60.0, probe_after=5.0, **options):
        host, port = address.rsplit(":", 1)
        self.address, self.timeout, self.probe_after = address, timeout, probe_after
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self._buf = b""
        token = token if token is not None else os.environ.get("GYM_SERVE_TOKEN")
        if token or client_id:
            self._call({"op": "auth", "token": token or "", "client": client_id or ""})
        made = self._call({"op": "make", "env_id": env_id, "options": options or None})
        self.session_id, self.spec = made["session_id"], made["spec"]

    def _readline(self):
        start = time.monotonic()
        deadline = start + self.timeout
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i + 1], self._buf[i + 1:]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no answer within {self.timeout}s")
            self.sock.settimeout(min(left, self.probe_after) if self.probe_after else left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                if self.probe_after and time.monotonic() < deadline:
                    why = _probe(self.address, self.probe_after)
                    if why is not None:
                        raise Stalled(f"the server stopped answering: the call waited {time.monotonic() - start:.1f}s, then a health "
                                      f"probe on a new connection got no answer within {self.probe_after}s ({why}): a frozen "
                                      f"replica (a paused container, a stopped process) or a partition") from None
                continue
            if not chunk:
                return b""
            self._buf += chunk

    def _call(self, req):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        line = self._readline()
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


# --- Pool: replicas found by DNS ----------------------------------------------


def _system_resolve(host):
    """The IPs host resolves to, from the system resolver (getaddrinfo)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _join(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _is_ip(host):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


class Pool:
    """Envs spread over every replica of `gym serve` stream servers.

        pool = Pool("tasks.envgym_core:8081")     # Swarm; a k8s headless Service alike
        envs = pool.vector("text/maze-v0", 16, seed=0)
        ...
        print(pool.stats())   # per replica: envs, episodes, steps, steps_per_s, failures

    An address whose host is a name stands for every IP it resolves to, one
    replica each; a literal IP:port is one replica. Names are resolved again
    every `resolve_every` seconds and after a connection failure. An env is
    made on the live replica holding the fewest envs; when its replica dies
    the step in flight returns CRASHED (truncated, info["status"]), and the
    env is made again on a live replica at its next reset. At a reset an env
    also moves when its replica left the DNS answer or holds two envs more
    than the least loaded one, so a replacement replica gets its share.
    Once an env was made, make and reset wait up to `patience` seconds while
    no replica is reachable (a lone replica restarting); a pool that never
    reached one fails at once. A replica that stops answering (a paused
    container: the kernel still accepts) is probed after `probe_after`
    seconds of a call and, silent, ends the step as TIMEOUT and is marked
    down, instead of holding it for `timeout`. `resolve(host) -> [ip, ...]` replaces the
    system resolver (tests, a cluster's own DNS server). Safe to share
    between threads.
    """

    def __init__(self, addresses, token=None, timeout=60.0, resolve_every=5.0, down_for=5.0, resolve=None, patience=30.0,
                 probe_after=5.0):
        if isinstance(addresses, str):
            addresses = addresses.split(",")
        self.targets = []
        for a in addresses:
            host, sep, port = a.strip().rpartition(":")
            host = host.strip("[]")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"address {a!r}: want host:port (a name such as tasks.envgym:8081 means every IP it resolves to)")
            self.targets.append({"given": a, "host": host, "port": int(port), "literal": _is_ip(host),
                                 "addrs": [_join(host, port)] if _is_ip(host) else []})
        self.token = token if token is not None else os.environ.get("GYM_SERVE_TOKEN")
        self.timeout, self.resolve_every, self.down_for, self.patience = timeout, resolve_every, down_for, patience
        self.probe_after = probe_after
        self.made = False
        self.resolve = resolve or _system_resolve
        self.lock = threading.Lock()
        self.replicas = {}   # addr -> stats and state
        self.current = []
        self.resolved_at = 0.0
        self.force = False
        self.resolve_error = None
        self.next = 0
        self._install()

    def _replica(self, addr):
        r = self.replicas.get(addr)
        if r is None:
            r = self.replicas[addr] = {"addr": addr, "live": 0, "envs": 0, "episodes": 0, "steps": 0,
                                       "failures": {}, "connect_failures": 0, "down_until": 0.0,
                                       "first": None, "last": None}
        return r

    def _install(self):
        cur = sorted({a for t in self.targets for a in t["addrs"]})
        self.current = cur
        for a in cur:
            self._replica(a)
        self.resolved_at = time.monotonic()

    def refresh(self):
        """Resolve the names again if the answer is old or a failure asked."""
        if all(t["literal"] for t in self.targets):
            return
        with self.lock:
            age = time.monotonic() - self.resolved_at
            stale = not self.current or age >= self.resolve_every or (self.force and age >= 0.5)
        if not stale:
            return
        found, err = {}, None
        for i, t in enumerate(self.targets):
            if t["literal"]:
                continue
            try:
                found[i] = [_join(ip, t["port"]) for ip in self.resolve(t["host"])]
            except OSError as e:
                err = f"resolve {t['given']}: {e}"
        with self.lock:
            for i, addrs in found.items():
                self.targets[i]["addrs"] = addrs
            self.resolve_error = err
            self.force = False
            self._install()

    def addresses(self):
        """The replicas of the last resolution (resolving first if due)."""
        self.refresh()
        with self.lock:
            return list(self.current)

    def _pick(self):
        with self.lock:
            if not self.current:
                raise ConnectionError("no replica to make envs on" + (f": {self.resolve_error}" if self.resolve_error else ""))
            now, n = time.monotonic(), len(self.current)
            order = [self.replicas[self.current[(self.next + i) % n]] for i in range(n)]
            self.next += 1
            up = sorted((r for r in order if now >= r["down_until"]), key=lambda r: r["live"])
            return [r["addr"] for r in up + [r for r in order if now < r["down_until"]]]

    def _down(self, addr):
        with self.lock:
            self._replica(addr)["down_until"] = time.monotonic() + self.down_for
            self.force = True

    def _should_move(self, addr):
        with self.lock:
            if addr not in self.current:
                return True
            mine, now = self.replicas[addr]["live"], time.monotonic()
            return any(a != addr and now >= self.replicas[a]["down_until"] and self.replicas[a]["live"] + 2 <= mine
                       for a in self.current)

    def _count(self, addr, **changes):
        with self.lock:
            r = self._replica(addr)
            for k, v in changes.items():
                r[k] += v

    def _stepped(self, addr, sent, status):
        with self.lock:
            r = self._replica(addr)
            r["steps"] += 1
            r["first"] = sent if r["first"] is None else min(r["first"], sent)
            r["last"] = time.monotonic()
            if status in INFRA:
                r["failures"][status] = r["failures"].get(status, 0) + 1

    def _connect(self, env_id, options):
        # Once an env was made (the service exists), a moment with no
        # replica reachable is waited out for `patience` seconds.
        deadline = time.monotonic() + self.patience
        while True:
            try:
                return self._try_connect(env_id, options)
            except ConnectionError:
                with self.lock:
                    made = self.made
                if not made or time.monotonic() >= deadline:
                    raise
            time.sleep(0.25)
            with self.lock:
                self.force, self.resolved_at = True, 0.0

    def _try_connect(self, env_id, options):
        self.refresh()
        errors = []
        for addr in self._pick():
            try:
                env = StreamEnv(addr, env_id, token=self.token, timeout=self.timeout, probe_after=self.probe_after,
                                **(options or {}))
            except ServeError:
                raise  # the server answered: a bad id or options fail everywhere
            except OSError as e:
                self._count(addr, connect_failures=1)
                self._down(addr)
                errors.append(f"{addr}: {e}")
                continue
            self._count(addr, live=1, envs=1)
            with self.lock:
                self.made = True
            return addr, env
        raise ConnectionError(f"no replica could make {env_id}: " + "; ".join(errors))

    def make(self, env_id, **options):
        """An env (Gymnasium's reset/step) on the least loaded live replica."""
        return PoolEnv(self, env_id, options)

    def vector(self, env_id, n, seed=0, task=None, **options):
        """A VectorEnv of n envs of env_id spread over the replicas."""
        return VectorEnv([self.make(env_id, **options) for _ in range(n)], seed=seed, task=task)

    def stats(self):
        """Per replica, sorted by address: addr, envs (made), live_envs,
        episodes (resets answered), steps, steps_per_s (over its first to
        last step), failures (steps by infrastructure status),
        connect_failures, resolved (in the last DNS answer)."""
        with self.lock:
            out = []
            for addr in sorted(self.replicas):
                r = self.replicas[addr]
                span = (r["last"] - r["first"]) if r["first"] is not None else 0
                out.append({"addr": addr, "envs": r["envs"], "live_envs": r["live"], "episodes": r["episodes"],
                            "steps": r["steps"], "steps_per_s": r["steps"] / span if span > 0 else 0.0,
                            "failures": dict(r["failures"]), "connect_failures": r["connect_failures"],
                            "resolved": addr in self.current})
            return out


class PoolEnv:
    """One env of a Pool: a StreamEnv that survives its replica (see Pool)."""

    def __init__(self, pool, env_id, options):
        self.pool, self.env_id, self.options = pool, env_id, options
        self.addr, self.env = pool._connect(env_id, options)
        self.spec = self.env.spec
        self.live = False

    @property
    def replica(self):
        """The address of the replica holding the env now (None if none)."""
        return self.addr

    def _drop(self, close=False):
        if self.env is not None:
            if close:
                self.env.close()
            else:
                try:
                    self.env.sock.close()
                except OSError:
                    pass
            self.pool._count(self.addr, live=-1)
        self.env, self.addr, self.live = None, None, False

    def reset(self, seed=0, task=None, options=None):
        self.pool.refresh()
        if self.env is not None and self.pool._should_move(self.addr):
            self._drop(close=True)
        last = None
        for _ in range(len(self.pool.addresses()) + 2):
            if self.env is None:
                self.addr, self.env = self.pool._connect(self.env_id, self.options)
                self.spec = self.env.spec
            try:
                out = self.env.reset(seed=seed, task=task, options=options)
            except ServeError as e:
                if e.field == "session_id":
                    self._drop()  # the server closed our env: make it again
                    continue
                if e.code >= 500:
                    # The replica could not start an episode (draining, or its
                    # env failed): another may. A 4xx would fail everywhere.
                    last = e
                    self.pool._down(self.addr)
                    self._drop(close=True)
                    continue
                raise
            except OSError as e:
                last = e
                self.pool._down(self.addr)
                self._drop()
                continue
            self.live = True
            self.pool._count(self.addr, episodes=1)
            return out
        raise ConnectionError(f"reset {self.env_id}: every replica failed, the last: {last}")

    def step(self, action):
        if self.env is None or not self.live:
            raise ServeError(409, "reset first: the env has no episode under way", "action")
        addr, sent = self.addr, time.monotonic()
        try:
            out = self.env.step(action)
        except ServeError as e:
            if e.field != "session_id":
                raise
            return self._failed(addr, sent, "ENV_ERROR", f"the server lost this env: {e.message}")
        except Stalled as e:
            self.pool._down(addr)  # not to be used until it answers again
            return self._failed(addr, sent, "TIMEOUT", f"server {addr}: {e}")
        except socket.timeout as e:
            return self._failed(addr, sent, "TIMEOUT", f"server {addr} timed out: {e}")
        except (OSError, ValueError) as e:
            self.pool._down(addr)
            return self._failed(addr, sent, "CRASHED", f"server {addr} failed: {e}")
        self.pool._stepped(addr, sent, out[4]["status"])
        if out[2] or out[3]:
            self.live = False
        return out

    def _failed(self, addr, sent, status, msg):
        self.pool._stepped(addr, sent, status)
        self._drop()
        text = "The environment server failed: " + msg
        info = {"valid_actions": [], "status": status, "grounded": False, "error": msg, "replica": addr}
        return text, 0.0, False, True, info

    def close(self):
        self._drop(close=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- OpenEnv -----------------------------------------------------------------
#
# `gym serve` also speaks meta-pytorch/OpenEnv's protocol, one base URL per env
# id: http://HOST:PORT/openenv/<family>.<name>-vN (web/shop-v0 →
# /openenv/web.shop-v0). OpenEnvClient is a client of that protocol written
# with the standard library (a small RFC 6455 WebSocket client below), and
# EnvgymEnv turns an env's tools into a class TRL's
# GRPOTrainer(environment_factory=...) plays.


class OpenEnvError(RuntimeError):
    """An OpenEnv error reply: code is one of OpenEnv's WSErrorCode values
    (INVALID_JSON, UNKNOWN_TYPE, VALIDATION_ERROR, EXECUTION_ERROR,
    CAPACITY_REACHED, FACTORY_ERROR, SESSION_ERROR); data is the whole
    error object (validation errors list their fields under "errors")."""

    def __init__(self, code, message, data=None):
        super().__init__(f"Server error: {message} (code: {code})")
        self.code, self.message, self.data = code, message, data or {}


def openenv_url(server_url, env_id):
    """The OpenEnv base URL of env_id on a `gym serve` at server_url."""
    family, _, name = env_id.partition("/")
    return server_url.rstrip("/") + "/openenv/" + family + "." + name


class _WebSocket:
    """A minimal RFC 6455 client: text frames, fragmentation, ping/pong and
    the close handshake; no extensions (the server negotiates none)."""

    _GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url, headers=None, timeout=60.0):
        import hashlib
        from urllib.parse import urlsplit

        u = urlsplit(url)
        if u.scheme not in ("ws", "http"):
            raise ValueError(f"{url}: only ws:// and http:// URLs (no TLS in this client)")
        port = u.port or 80
        self.sock = socket.create_connection((u.hostname, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        path = (u.path or "/") + (("?" + u.query) if u.query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {u.hostname}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{url}: connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *fields = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            body = self.buf
            raise ConnectionError(f"{url}: {status}: {body[:500].decode(errors='replace')}")
        hdr = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields if ":" in f)}
        want = base64.b64encode(hashlib.sha1((key + self._GUID).encode()).digest()).decode()
        if hdr.get("sec-websocket-accept") != want:
            raise ConnectionError(f"{url}: bad Sec-WebSocket-Accept")
        self.closed = None  # (code, reason) once the server closed

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        # XOR through int.from_bytes: fast enough without numpy.
        m = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
        body = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
        self.sock.sendall(head + mask + body)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def send_binary(self, data):
        self._send_frame(0x2, data)

    def recv(self):
        """The next data message (str for text, bytes for binary);
        ConnectionError once the server closed (self.closed says how)."""
        parts, first = [], None
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read(8), "big")
            payload = self._read(n)
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
            elif opcode == 0xA:  # pong
                pass
            elif opcode == 0x8:  # close: answer it, then report
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.closed = (code, payload[2:].decode(errors="replace"))
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                self.sock.close()
                raise ConnectionError(f"server closed the WebSocket: {self.closed[0]} {self.closed[1]}".strip())
            else:
                if opcode != 0x0:
                    first = opcode
                parts.append(payload)
                if b0 & 0x80:
                    data = b"".join(parts)
                    return data.decode() if first == 0x1 else data

    def close(self, code=1000):
        if self.closed is None:
            try:
                self._send_frame(0x8, code.to_bytes(2, "big"))
                self.sock.settimeout(5)
                while True:
                    self.recv()
            except (ConnectionError, OSError):
                pass
        self.sock.close()


class StepResult:
    """One OpenEnv reply: observation (dict: text, valid_actions, status,
    infra, terminated, truncated, screenshot?), reward (None at reset),
    done (terminated or truncated) and metadata (the env's info)."""

    def __init__(self, data):
        self.observation = data.get("observation") or {}
        self.reward = data.get("reward")
        self.done = bool(data.get("done"))
        self.metadata = data.get("metadata") or {}

    text = property(lambda self: self.observation.get("text", ""))
    status = property(lambda self: self.observation.get("status", "OK"))
    terminated = property(lambda self: bool(self.observation.get("terminated")))
    truncated = property(lambda self: bool(self.observation.get("truncated")))
    valid_actions = property(lambda self: self.observation.get("valid_actions") or [])

    @property
    def infra(self):
        """The step failed for the infrastructure's reasons (ENV_ERROR,
        TIMEOUT, CRASHED): drop it from the loss, it is not the policy's."""
        return self.status in INFRA

    @property
    def screenshot(self):
        s = self.observation.get("screenshot")
        return base64.b64decode(s) if s else None

    def __repr__(self):
        return f"StepResult(status={self.status}, reward={self.reward}, done={self.done}, text={self.text[:60]!r})"


class OpenEnvClient:
    """A synchronous client of one OpenEnv env session over WebSocket, with
    OpenEnv's EnvClient calls: reset(**kwargs), step(action), state(),
    close(). One client is one env instance on the server.

        with OpenEnvClient("http://127.0.0.1:8080/openenv/text.maze-v0") as env:
            r = env.reset(seed=1, task="easy")
            while not r.done:
                r = env.step({"action": r.valid_actions[0]})

    step takes OpenEnv's action dict {"action": "<action string>"} or the
    action string itself. Errors raise OpenEnvError with OpenEnv's code.
    Also list_tools() and call_tool(name, **arguments), through OpenEnv's
    {"type": "mcp"} message.
    """

    def __init__(self, base_url, token=None, timeout=60.0):
        if token is None:
            token = os.environ.get("GYM_SERVE_TOKEN") or None
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ws = _WebSocket(self.base_url + "/ws", headers=headers, timeout=timeout)
        self._rpc_id = 0

    @classmethod
    def for_env(cls, server_url, env_id, **kwargs):
        """A client of env_id on the `gym serve` at server_url."""
        return cls(openenv_url(server_url, env_id), **kwargs)

    def _call(self, msg):
        self._ws.send_text(json.dumps(msg))
        try:
            resp = json.loads(self._ws.recv())
        except ConnectionError as e:
            raise OpenEnvError("SESSION_ERROR", str(e)) from e
        if resp.get("type") == "error":
            d = resp.get("data") or {}
            raise OpenEnvError(d.get("code", "UNKNOWN"), d.get("message", "Unknown error"), d)
        return resp

    def reset(self, **kwargs):
        """Start an episode: seed, task, episode_id, options, screenshot."""
        return StepResult(self._call({"type": "reset", "data": kwargs})["data"])

    def step(self, action):
        if isinstance(action, str):
            action = {"action": action}
        return StepResult(self._call({"type": "step", "data": action})["data"])

    def state(self):
        """OpenEnv's State: episode_id, step_count, plus env_id, task_id,
        seed, done and last_status."""
        return self._call({"type": "state"})["data"]

    def _mcp(self, method, params=None):
        self._rpc_id += 1
        req = {"jsonrpc": "2.0", "id": self._rpc_id, "method": method}
        if params is not None:
            req["params"] = params
        out = self._call({"type": "mcp", "data": req})["data"]
        if "error" in out:
            e = out["error"]
            raise OpenEnvError("MCP_ERROR", f"{e.get('message')} (JSON-RPC {e.get('code')})", e)
        return out["result"]

    def list_tools(self):
        """The env's tools in MCP's shape: name, description, inputSchema."""
        return self._mcp("tools/list")["tools"]

    def call_tool(self, name, **arguments):
        """Play one tool call; returns the StepResult of its step."""
        res = self._mcp("tools/call", {"name": name, "arguments": arguments})
        sc = res.get("structuredContent") or {}
        if "observation" not in sc:  # the step was refused: sc is the error
            raise OpenEnvError(sc.get("code", "EXECUTION_ERROR"), sc.get("message", "tool call failed"), sc)
        return StepResult(sc)

    def close(self):
        if self._ws.closed is None:
            try:
                self._ws.send_text('{"type":"close"}')
            except OSError:
                pass
        self._ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- TRL environment_factory -------------------------------------------------

_PY_TYPES = {"integer": int, "string": str, "number": float, "boolean": bool}
_RESET_KEYS = ("seed", "task", "task_id", "episode_id", "options", "screenshot")


def _tool_method(tool):
    """A method calling tool, with the typed signature and Google-style
    docstring (Args: …) that TRL turns into the tool's JSON schema."""
    import inspect

    schema = tool.get("inputSchema") or {}
    props = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    order = required + sorted(p for p in props if p not in required)
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations = {"return": str}
    arg_docs = []
    for name in order:
        p = props[name]
        typ = _PY_TYPES.get(p.get("type"), str)
        default = inspect.Parameter.empty if name in required else None
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=typ))
        annotations[name] = typ
        desc = (p.get("description") or name).replace("\n", " ")
        if p.get("enum"):
            desc += " (choices: " + json.dumps(p["enum"]) + ")"
        arg_docs.append(f"    {name}: {desc}")
    summary = (tool.get("description") or tool["name"]).split("\n")[0]
    doc = summary + "\n\nArgs:\n" + ("\n".join(arg_docs) if arg_docs else "") + \
        "\n\nReturns:\n    The next observation, as text."
    tool_name = tool["name"]

    def method(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        call = {k: v for k, v in list(bound.arguments.items())[1:] if v is not None}
        return self._play(tool_name, call)

    sig = inspect.Signature(params)
    method.__signature__ = sig
    method.__annotations__ = annotations
    method.__name__ = method.__qualname__ = tool_name
    method.__doc__ = doc
    return method


class _EnvFactory(type):
    """EnvgymEnv's metaclass: for_env lives here so that it is callable on
    the class but not an attribute of instances, where TRL would take it
    for a tool (it exposes every public method but reset)."""

    def for_env(cls, server_url, env_id, token=None, **reset_defaults):
        """Make the class of env_id on the `gym serve` at server_url: one
        method per tool the server lists for the env. reset_defaults (e.g.
        task="1hop") apply to every reset unless the row overrides them."""
        with OpenEnvClient.for_env(server_url, env_id, token=token) as c:
            tools = c.list_tools()
        attrs = {"server_url": server_url, "env_id": env_id, "token": token,
                 "reset_defaults": dict(reset_defaults), "tools": [t["name"] for t in tools],
                 "__doc__": f"{env_id} served by envgym at {server_url}."}
        for t in tools:
            if t["name"].startswith("_") or t["name"] == "reset" or hasattr(cls, t["name"]):
                raise ValueError(f"tool name {t['name']!r} collides with the class's own")
            attrs[t["name"]] = _tool_method(t)
        name = "".join(p.capitalize() for p in env_id.replace("/", "_").replace("-", "_").replace(".", "_").split("_"))
        return type(cls)(name + "Env", (cls,), attrs)


class EnvgymEnv(metaclass=_EnvFactory):
    """Base of the classes EnvgymEnv.for_env makes for TRL's GRPOTrainer:

        from envgym_client import EnvgymEnv
        ShopEnv = EnvgymEnv.for_env("http://127.0.0.1:8080", "web/shop-v0")
        trainer = GRPOTrainer(..., environment_factory=ShopEnv,
                              reward_funcs=lambda environments, **kw: [e.reward for e in environments])

    TRL makes one instance per rollout (no arguments), calls reset(**row)
    with the dataset row's columns (seed, task, episode_id and options are
    used; the others ignored) and exposes the public methods — the env's
    tools, with typed arguments and docstrings — to the model. After the
    tool calls:

      reward      the episode's return so far (sum of step rewards)
      done        terminated or truncated
      terminated, truncated, status (of the last step)
      infra       some step failed for infrastructure reasons (ENV_ERROR,
                  TIMEOUT, CRASHED): drop the rollout rather than score it
    A tool called after the episode ended raises ValueError, which TRL
    feeds back to the model as the tool's answer. Public methods are the
    tools and reset only (TRL would offer any other to the model); the
    connection closes with the instance, or with _close().
    """

    server_url = None
    env_id = None
    token = None
    reset_defaults = {}

    def __init__(self):
        self._client = None
        self.reward, self.done, self.terminated, self.truncated = 0.0, False, False, False
        self.status, self.infra, self.last = "OK", False, None

    def reset(self, **kwargs):
        """Start an episode; returns the first observation's text."""
        if self._client is None:
            self._client = OpenEnvClient.for_env(self.server_url, self.env_id, token=self.token)
        args = dict(self.reset_defaults)
        args.update({k: v for k, v in kwargs.items() if k in _RESET_KEYS and v is not None})
        r = self._client.reset(**args)
        self.reward, self.done, self.terminated, self.truncated = 0.0, False, False, False
        self.status, self.infra, self.last = r.status, False, r
        return r.text

    def _play(self, tool, arguments):
        if self._client is None:
            raise ValueError("call reset() first")
        if self.done:
            raise ValueError("The episode is over; no more actions.")
        r = self._client.call_tool(tool, **arguments)
        self.last = r
        self.reward += float(r.reward or 0.0)
        self.done, self.terminated, self.truncated = r.done, r.terminated, r.truncated
        self.status = r.status
        self.infra = self.infra or r.infra
        return r.text

    def _close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass
