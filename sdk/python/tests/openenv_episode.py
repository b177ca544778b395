"""Plays envs served by a real `gym serve` through envgym_client's OpenEnv
client and the TRL environment_factory class, the way TRL's GRPOTrainer
calls it; prints what it saw as JSON for openenv_test.go.

argv: SERVER_URL TOKEN PLANS_JSON ({"text": [actions], "shop": [actions]}) SERVE_PID
"""

import inspect
import json
import os
import re
import signal
import sys

sys.path.insert(0, ".")
from envgym_client import EnvgymEnv, OpenEnvClient, OpenEnvError  # noqa: E402

url, token, plans = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
out = {}

# OpenEnv client: a text episode, bad input, the session going on.
with OpenEnvClient.for_env(url, "text/maze-v0", token=token) as env:
    r = env.reset(seed=3, task="easy", episode_id="py-1")
    out["reset"] = {"reward": r.reward, "done": r.done, "status": r.status, "has_text": bool(r.text)}
    total = 0.0
    for a in plans["text"]:
        r = env.step({"action": a})
        total += r.reward
    out["text"] = {"done": r.done, "terminated": r.terminated, "return": total, "status": r.status}
    st = env.state()
    out["state"] = {"episode_id": st.get("episode_id"), "step_count": st.get("step_count")}
    errors = {}
    for name, call in [("action_type", lambda: env.step({"action": 5})),
                       ("unknown_task", lambda: env.reset(task="nightmare")),
                       ("unknown_field", lambda: env.reset(difficulty="hard"))]:
        try:
            call()
            errors[name] = "no error"
        except OpenEnvError as e:
            errors[name] = e.code
    out["errors"] = errors
    out["alive_after_errors"] = env.reset(seed=4).status == "OK"
    bad = env.step("fly to the moon")
    out["invalid_action"] = {"status": bad.status, "infra": bad.infra, "done": bad.done}

try:
    OpenEnvClient.for_env(url, "text/maze-v0", token="wrong-token")
    out["wrong_token"] = "connected"
except ConnectionError as e:
    out["wrong_token"] = "401" if " 401 " in str(e) else str(e)

# TRL: the class, instantiated without arguments, reset with a dataset row,
# tools called with keyword arguments as a tool-call parser would.
MazeEnv = EnvgymEnv.for_env(url, "text/maze-v0", token=token)
sig = inspect.signature(MazeEnv.act)
out["maze_tools"] = MazeEnv.tools
out["maze_act_sig"] = {n: getattr(p.annotation, "__name__", str(p.annotation)) for n, p in sig.parameters.items() if n != "self"}
out["maze_act_doc_has_args"] = "Args:" in (MazeEnv.act.__doc__ or "")
env = MazeEnv()
first = env.reset(prompt=[{"role": "user", "content": "solve it"}], seed=3, task="easy")
for a in plans["text"]:
    env.act(action=a)
try:
    env.act(action="north")
    after = "no error"
except ValueError as e:
    after = str(e)
out["trl_maze"] = {"first_obs": bool(first), "reward": env.reward, "done": env.done, "infra": env.infra, "after_done": after}
# What TRL would offer the model: every public callable of the instance but reset.
out["maze_public"] = sorted(n for n in dir(env) if not n.startswith("_") and callable(getattr(env, n)))
env._close()

ShopEnv = EnvgymEnv.for_env(url, "web/shop-v0", token=token)
out["shop_tools"] = ShopEnv.tools
params = {t: [p for p in inspect.signature(getattr(ShopEnv, t)).parameters if p != "self"] for t in ShopEnv.tools}
out["shop_click_params"] = {n: p.annotation.__name__ for n, p in inspect.signature(ShopEnv.click).parameters.items() if n != "self"}
shop = ShopEnv()
shop.reset(seed=2)
calls = []
for a in plans["shop"]:
    m = re.fullmatch(r"(\w+)\((.*)\)", a.strip(), re.S)
    name, raw = m.group(1), m.group(2).strip()
    args = json.loads("[" + raw + "]") if raw and not re.fullmatch(r"[a-z_]+", raw) else ([raw] if raw else [])
    kwargs = dict(zip(params[name], args))
    calls.append([name, kwargs])
    getattr(shop, name)(**kwargs)
out["trl_shop"] = {"reward": shop.reward, "done": shop.done, "terminated": shop.terminated, "status": shop.status,
                   "infra": shop.infra, "calls": calls[:3]}
shop._close()


def descendants(pid):
    """Process ids under pid (this test's own gym serve), from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


# An infrastructure failure is told apart from the agent's: kill the text
# plugin's processes under our gym serve in the middle of an episode.
with OpenEnvClient.for_env(url, "text/maze-v0", token=token) as env:
    env.reset(seed=5, task="easy")
    killed = 0
    for p in descendants(int(sys.argv[4])):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"gym-plugin-text" in cmd:
            os.kill(p, signal.SIGKILL)
            killed += 1
    r = env.step({"action": "look"})
    out["crash"] = {"killed": killed > 0, "status": r.status, "infra": r.infra, "done": r.done, "truncated": r.truncated}
print(json.dumps(out))
