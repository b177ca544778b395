"""Plays a VectorEnv of a Pool over gym serve replicas found through a DNS
server, while the Go test kills one replica and brings up a replacement.
Usage: pool_episode.py DNS_SERVER NAME:PORT TOKEN

Talks to the Go test on stdout/stdin: prints {"phase": "kill"} and waits for
a line, then {"phase": "replace"} and waits, then the JSON summary."""
import json
import socket
import struct
import sys
import time

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from envgym_client import Pool  # noqa: E402

dns_server, address, token = sys.argv[1:4]


def dns_resolve(server):
    """A resolver asking one DNS server for A records over UDP."""
    host, port = server.rsplit(":", 1)

    def resolve(name):
        qid = 0x4242
        q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        for label in name.rstrip(".").split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\0" + struct.pack(">HH", 1, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(q, (host, int(port)))
            resp, _ = s.recvfrom(1500)
        rid, flags, qd, an = struct.unpack(">HHHH", resp[:8])
        if rid != qid or flags & 0xF:
            raise OSError(f"{name}: DNS rcode {flags & 0xF}")
        i = 12

        def skip_name(i):
            while resp[i]:
                if resp[i] & 0xC0 == 0xC0:
                    return i + 2
                i += resp[i] + 1
            return i + 1

        for _ in range(qd):
            i = skip_name(i) + 4
        ips = []
        for _ in range(an):
            i = skip_name(i)
            rtype, _, _, rdlen = struct.unpack(">HHIH", resp[i:i + 10])
            i += 10
            if rtype == 1 and rdlen == 4:
                ips.append(socket.inet_ntoa(resp[i:i + 4]))
            i += rdlen
        return ips

    return resolve


def handshake(phase):
    print(json.dumps({"phase": phase}), flush=True)
    sys.stdin.readline()


pool = Pool(address, token=token, resolve=dns_resolve(dns_server), resolve_every=0.2, down_for=0.3)
out = {"replicas_at_start": pool.addresses()}
venv = pool.vector("text/maze-v0", 6, seed=0, task="easy")
obs, infos = venv.reset()
out["spread"] = sorted(s["live_envs"] for s in pool.stats())
ended = {"OK": 0}
crashed_on = {}
steps = 0


def run(n):
    global obs, infos, steps
    for _ in range(n):
        obs, rewards, terms, truncs, infos = venv.step([i["valid_actions"][steps % len(i["valid_actions"])] if i["valid_actions"] else "noop" for i in infos])
        steps += len(obs)
        for term, trunc, info in zip(terms, truncs, infos):
            if term or trunc:
                status = info["status"]
                ended[status] = ended.get(status, 0) + 1
                if status == "CRASHED":
                    crashed_on[info["replica"]] = crashed_on.get(info["replica"], 0) + 1


run(60)
handshake("kill")
run(60)
handshake("replace")
time.sleep(0.5)  # past resolve_every and down_for
run(120)
out["ended"] = ended
out["crashed_on"] = crashed_on
out["steps"] = steps
out["replicas_at_end"] = pool.addresses()
venv.close()
out["stats"] = pool.stats()
print(json.dumps(out), flush=True)
