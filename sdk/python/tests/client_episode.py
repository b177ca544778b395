"""Plays episodes through a real `gym serve` with envgym_client; prints one
JSON summary line. Usage: client_episode.py HTTP_URL STREAM_ADDR TOKEN"""
import json
import sys

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from envgym_client import Client, ServeError, StreamEnv, VectorEnv  # noqa: E402

http_url, stream_addr, token = sys.argv[1:4]
out = {}

# Wrong token: 401, nothing created.
try:
    Client(http_url, token="wrong").make("text/maze-v0")
    out["wrong_token"] = "accepted"
except ServeError as e:
    out["wrong_token"] = e.code

client = Client(http_url, token=token)


def play(env, seed, task=None, limit=300):
    obs, info = env.reset(seed=seed, task=task)
    total, steps = 0.0, 0
    while steps < limit:
        actions = info["valid_actions"]
        action = actions[(seed + steps) % len(actions)] if actions else "noop()"
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
        if terminated or truncated:
            return {"steps": steps, "return": total, "status": info["status"], "done": True}
    return {"steps": steps, "return": total, "done": False}


with client.make("text/maze-v0") as env:
    out["http_text"] = play(env, 1, "easy")
with StreamEnv(stream_addr, "text/maze-v0", token=token) as env:
    out["stream_text"] = play(env, 2, "easy")
    try:
        env.step("")  # after the episode ended
        out["step_after_done"] = "accepted"
    except ServeError as e:
        out["step_after_done"] = e.code

shop = StreamEnv(stream_addr, "web/shop-v0", token=token)
obs, info = shop.reset(seed=3)
out["shop_obs_has_search"] = "search" in obs.lower()
obs, reward, terminated, truncated, info = shop.step("click(99999)")
out["shop_invalid_status"] = info["status"]
out["shop_valid_actions"] = len(info["valid_actions"])
out["shop_episode"] = play(shop, 4, limit=60)  # a whole episode: bought, or cut at its 30-step limit
shop.close()

venv = VectorEnv([StreamEnv(stream_addr, "text/maze-v0", token=token) for _ in range(3)], seed=10, task="easy")
obs, infos = venv.reset()
for _ in range(5):
    obs, rewards, terms, truncs, infos = venv.step([i["valid_actions"][0] for i in infos])
out["vector_n"] = len(obs)
venv.close()
print(json.dumps(out))
