"""serve(): the whole main of a Python env plugin.

It speaks go-plugin's language-neutral protocol, which the gym host
expects from every plugin: check the magic cookie, listen on a unix
socket, print one handshake line on stdout, then serve over gRPC the env
service (wire/pb/env.proto), the health service go-plugin pings,
and go-plugin's controller (Shutdown). Sessions also get the host's fast
path: a unix socket carrying length-prefixed Request/Response frames, the
same messages without HTTP/2 (see wire/frame.go).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
from concurrent import futures
from typing import Iterable, Mapping, Tuple, Union

try:
    import grpc
    import google.protobuf  # noqa: F401
except ImportError as e:  # say what to install, not just what is missing
    raise ImportError(
        f"envgym needs Debian's python3-grpcio and python3-protobuf ({e}); "
        "install them with: apt-get install python3-grpcio python3-protobuf"
    ) from e

from ._proto import env_pb2 as pb
from ._proto import env_pb2_grpc
from ._proto import grpc_controller_pb2, grpc_controller_pb2_grpc
from ._proto import health_pb2, health_pb2_grpc
from ._session import LiveSet, Session
from .env import Env, Factory, Spec

SDK_VERSION = "0.1.0-python"

# wire/wire.go: Handshake.
MAGIC_COOKIE_KEY = "ENVGYM_PLUGIN"
MAGIC_COOKIE_VALUE = "b6f1c3e2-envgym-env-plugin"
CORE_PROTOCOL_VERSION = 1  # go-plugin's
APP_PROTOCOL_VERSION = 1  # wire.Handshake.ProtocolVersion

MAX_FRAME = 64 << 20  # wire.MaxFrame
MAX_SESSIONS = 256  # concurrent instances per plugin process

Registry = Mapping[str, Tuple[Spec, Factory]]


def _registry(envs: Iterable[Union[Registry, type]]) -> dict:
    """Accepts {id: (spec, factory)} mappings and Env subclasses that set
    a class attribute spec."""
    reg: dict = {}
    for e in envs:
        items: Iterable
        if isinstance(e, Mapping):
            items = e.items()
        elif isinstance(e, type) and issubclass(e, Env):
            if not isinstance(e.spec, Spec):
                raise TypeError(f"{e.__name__}.spec must be an envgym.Spec to serve the class directly")
            items = [(e.spec.id, (e.spec, e))]
        else:
            raise TypeError(f"serve() takes {{id: (spec, factory)}} or Env subclasses, not {e!r}")
        for env_id, (spec, factory) in items:
            if spec.id != env_id:
                raise ValueError(f"env id {env_id!r} is registered with a spec whose id is {spec.id!r}")
            if not spec.version:
                raise ValueError(f"spec of {env_id}: version must not be empty (trajectories record it)")
            if env_id in reg:
                raise ValueError(f"env id {env_id!r} is registered twice")
            reg[env_id] = (spec, factory)
    if not reg:
        raise ValueError("serve() needs at least one env")
    return reg


class _EnvPlugin(env_pb2_grpc.EnvPluginServicer):
    def __init__(self, registry: dict, live: LiveSet, session_socket: str):
        self.registry, self.live, self.session_socket = registry, live, session_socket

    def Describe(self, request, context):
        return pb.DescribeResponse(
            specs_json=[json.dumps(spec.to_json()).encode() for spec, _ in self.registry.values()],
            pid=os.getpid(),
            sdk_version=SDK_VERSION,
            session_socket=self.session_socket,
        )

    def Session(self, request_iterator, context):
        sess = Session(self.registry, self.live)
        try:
            for req in request_iterator:
                yield sess.handle(req)
        finally:
            sess.close()  # the host closed the instance or went away


class _Health(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")


class _Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop: threading.Event):
        self.stop = stop

    def Shutdown(self, request, context):
        self.stop.set()
        return grpc_controller_pb2.Empty()


def _read_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = conn.recv_into(view[got:])
        if k == 0:
            raise EOFError
        got += k
    return bytes(buf)


def _serve_conn(conn: socket.socket, registry: dict, live: LiveSet) -> None:
    """One env instance for the life of the connection (sdk/socket.go)."""
    sess = Session(registry, live)
    hdr = struct.Struct("<I")
    try:
        while True:
            (n,) = hdr.unpack(_read_exact(conn, 4))
            if n > MAX_FRAME:
                return
            req = pb.Request.FromString(_read_exact(conn, n))
            out = sess.handle(req).SerializeToString()
            conn.sendall(hdr.pack(len(out)) + out)
    except (EOFError, OSError):
        pass  # the host closed the instance or went away
    finally:
        sess.close()
        conn.close()


def _accept(ln: socket.socket, registry: dict, live: LiveSet) -> None:
    while True:
        try:
            conn, _ = ln.accept()
        except OSError:
            return
        threading.Thread(target=_serve_conn, args=(conn, registry, live), daemon=True).start()


def _not_dumpable() -> None:
    """No other process of this uid may attach to the plugin or read its
    memory: exec made it dumpable again after the host's sandbox init
    cleared the flag (the Go SDK does the same, sdk/sandbox_linux.go)."""
    if not sys.platform.startswith("linux"):
        return
    PR_SET_DUMPABLE = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        sys.stderr.write(f"envgym plugin: not dumpable: {os.strerror(err)}\n")


def serve(*envs: Union[Registry, type]) -> None:
    """Serve envs as a gym plugin; returns never (the process exits when
    the host shuts it down or goes away).

        envgym.serve({"py/echo-v0": (spec, factory)})   # factory(options) -> Env
        envgym.serve(MyEnv)                             # MyEnv.spec is a Spec

    Run by hand (not by a gym host), it says it is a plugin and exits 1.
    """
    registry = _registry(envs)
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(
            "This is an envgym env plugin: it is started by the gym host, not by hand.\n"
            "Install it with `gym plugin install`, then try `gym list` and `gym check`.\n"
        )
        sys.exit(1)
    # The host manages this process; a Ctrl-C at the host's terminal is
    # the host's to handle (go-plugin plugins ignore SIGINT too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _not_dumpable()

    tmp = tempfile.mkdtemp(prefix="envgym-py-", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None)
    live, stop = LiveSet(), threading.Event()

    # The fast path for sessions; if it fails, the gRPC stream still works.
    session_path = os.path.join(tmp, "s.sock")
    try:
        ln = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ln.bind(session_path)
        ln.listen(64)
        threading.Thread(target=_accept, args=(ln, registry, live), daemon=True).start()
    except OSError as e:
        sys.stderr.write(f"envgym plugin: session socket: {e}\n")
        session_path = ""

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_SESSIONS + 8, thread_name_prefix="envgym"),
        options=[("grpc.max_receive_message_length", MAX_FRAME), ("grpc.max_send_message_length", MAX_FRAME)],
    )
    env_pb2_grpc.add_EnvPluginServicer_to_server(_EnvPlugin(registry, live, session_path), server)
    health_pb2_grpc.add_HealthServicer_to_server(_Health(), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stop), server)
    grpc_path = os.path.join(tmp, "plugin.sock")
    server.add_insecure_port("unix:" + grpc_path)
    server.start()

    # The handshake is the only thing this process ever writes to stdout:
    # go-plugin reads it, then the env's own prints go to stderr, which the
    # host keeps for crash reports.
    sys.stdout.write(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{grpc_path}|grpc\n")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # Exit on Shutdown, SIGTERM, or when the host goes away (we are
    # reparented; the host also sets a parent-death signal).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    _shutdown(server, ln if session_path else None, live, tmp)


def _shutdown(server, ln, live: LiveSet, tmp: str) -> None:
    if ln is not None:
        ln.close()
    server.stop(grace=0.2)
    closer = threading.Thread(target=live.close_all, daemon=True)
    closer.start()
    closer.join(2.0)  # an env hanging in close must not keep the plugin alive
    shutil.rmtree(tmp, ignore_errors=True)
    sys.stderr.flush()
    # Threads of hanging steps cannot be joined; leave without waiting.
    os._exit(0)

