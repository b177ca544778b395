"""Steps a Pool env whose replica the Go test stops (SIGSTOP: the kernel
still accepts, nothing answers). Usage: pool_stall.py ADDR1,ADDR2 TOKEN

Prints {"phase": "stop", "replica": ADDR} and waits for a line, then the
JSON summary."""
import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from envgym_client import Pool  # noqa: E402

addresses, token = sys.argv[1:3]
# A step timeout far beyond the test's own deadline: only the probe can end
# the stopped replica's step in time.
pool = Pool(addresses, token=token, timeout=600, probe_after=0.5, down_for=60)
a, b = pool.make("text/maze-v0"), pool.make("text/maze-v0")
obs, info = a.reset(seed=1, task="easy")
b.reset(seed=2, task="easy")
stopped = a.replica
print(json.dumps({"phase": "stop", "replica": stopped}), flush=True)
sys.stdin.readline()
t0 = time.monotonic()
text, reward, terminated, truncated, info = a.step(info["valid_actions"][0])
waited = time.monotonic() - t0
a.reset(seed=3, task="easy")
moved_to = a.replica
obs2, info2 = a.reset(seed=4, task="easy")
after = a.step(info2["valid_actions"][0])[4]["status"]
print(json.dumps({"status": info["status"], "truncated": truncated, "text": text, "replica": info.get("replica"),
                  "stopped": stopped, "moved_to": moved_to, "other": b.replica, "status_after": after,
                  "waited_s": round(waited, 2)}), flush=True)
b.close()
a.close()
