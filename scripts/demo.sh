#!/usr/bin/env bash
# The main job end to end on defaults, every part real: the envs from
# their sandboxed plugins, oracles solving tasks, trajectories recorded and
# replayed, the conformance suite, a served env played from Python, and
# the benchmarks of the plugin boundary.
set -euo pipefail
cd "$(dirname "$0")/.."
gym=bin/gym
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "gym doctor: what this machine has"
$gym doctor
step "gym list: every env of every installed plugin"
$gym list
step "text maze: the oracle solves every task through the plugin; trajectories in $out"
$gym run text/maze-v0 --policy oracle --episodes 6 --out "$out/maze.jsonl"
step "a random policy for comparison"
$gym run text/maze-v0 --policy random --episodes 6
step "replay: the recorded episodes reproduce exactly"
$gym replay "$out/maze.jsonl"
step "web shop on a real headless Chromium: the oracle buys the right product"
$gym run web/shop-v0 --policy oracle --episodes 5 --out "$out/shop.jsonl"
step "a MiniWoB-style web task"
$gym run web/book-flight-v0 --policy oracle --episodes 3
step "search: multi-hop questions over a 20k-passage BM25 index"
$gym run search/fictional-v0 --policy oracle --episodes 5
step "GUI: a phone app driven by taps on screenshots"
$gym run gui/phone-v0 --policy oracle --episodes 3
step "SWE: fix an injected bug in a sandbox; hidden tests decide"
$gym run swe/gomut-v0 --policy oracle --episodes 1
step "conformance suite against the example plugins (Go and Python)"
$gym check bin/gym-plugin-guess examples/python/guess/main.py
step "serve over the network and play from Python (stdlib client)"
$gym serve --http 127.0.0.1:18080 --stream 127.0.0.1:18081 --drain 2s 2>"$out/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "env ids from" "$out/serve.log" 2>/dev/null && break; sleep 0.1; done
/usr/bin/python3 - <<'PY'
import sys
sys.path.insert(0, "sdk/python")
from envgym_client import StreamEnv
with StreamEnv("127.0.0.1:18081", "text/maze-v0") as env:
    obs, info = env.reset(seed=1, task="easy")
    steps = 0
    while True:
        obs, r, term, trunc, info = env.step(info["valid_actions"][0])
        steps += 1
        if term or trunc:
            break
print(f"python played text/maze-v0 over the stream: {steps} steps, last status {info['status']}")
PY
kill -TERM $serve_pid; wait $serve_pid || true
step "benchmarks: the plugin boundary and the served transports"
$gym bench plugin
$gym bench serve --duration 1s
