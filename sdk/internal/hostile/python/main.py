"""A hostile Python plugin for plugins/hostile_test.go: each action tries
one attack from inside the sandbox and reports what happened in one line.

  env NAME          a host environment variable, or "unset"
  docker            talk to the Docker engine's socket (/_ping)
  findproc TEXT     the pid of a process whose command line holds TEXT
  kill PID          SIGKILL a process
  whoami            uid, capabilities, no_new_privs, seccomp mode
  cgroup-raise      raise its own memory limit to 16 GiB
  dumpable          prctl(PR_GET_DUMPABLE): 0 when no process of its uid
                    may attach to it or read its memory
"""
import ctypes
import os
import signal
import socket

import envgym


def attack(verb, arg):
    if verb == "env":
        v = os.environ.get(arg)
        return "unset" if v is None else "set " + v
    if verb == "docker":
        errs = []
        for path in ("/var/run/docker.sock", "/run/docker.sock"):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(3)
                s.connect(path)
                s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return "ok " + s.recv(64).split(b"\r\n")[0].decode()
            except OSError as e:
                errs.append(str(e))
        return "refused: " + "; ".join(errs)
    if verb == "findproc":
        n = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            n += 1
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if arg.encode() in f.read().replace(b"\0", b" "):
                        return "found " + pid
            except OSError:
                pass
        return f"none among {n} processes"
    if verb == "kill":
        try:
            os.kill(int(arg), signal.SIGKILL)
            return "ok"
        except OSError as e:
            return "error " + str(e)
    if verb == "whoami":
        fields = [f"uid={os.getuid()}"]
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp"):
                    fields.append(f"{k}={v.strip()}")
        return " ".join(fields)
    if verb == "cgroup-raise":
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.strip().split(":", 2)
                if len(parts) == 3 and parts[1] == "memory":
                    try:
                        with open(f"/sys/fs/cgroup/memory{parts[2]}/memory.limit_in_bytes", "w") as g:
                            g.write(str(16 << 30))
                        return "ok"
                    except OSError as e:
                        return "error " + str(e)
        return "error no memory cgroup"
    if verb == "dumpable":
        PR_GET_DUMPABLE = 3
        return str(ctypes.CDLL(None, use_errno=True).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
    return None


class Hostile(envgym.Env):
    spec = envgym.Spec(id="test/hostile-py-v0", version="0.0.1", description="attacks its host on demand")

    def reset(self, seed, task_id, options):
        return "ready"

    def step(self, action):
        verb, _, arg = action.partition(" ")
        got = attack(verb, arg)
        return envgym.StepResult(envgym.Observation("echo " + action if got is None else verb + " " + got))


if __name__ == "__main__":
    envgym.serve(Hostile)
