#!/usr/bin/env bash
# The main job end to end on defaults: list the envs, solve every task of
# the text family with the oracle through its plugin, record trajectories,
# check the example plugin against the contract, and benchmark the plugin
# boundary.
set -euo pipefail
cd "$(dirname "$0")/.."
gym=bin/gym
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"

echo "== gym list"
$gym list
echo "== oracle on every text/maze-v0 task (trajectories in $out)"
$gym run text/maze-v0 --policy oracle --episodes 6 --out "$out/maze.jsonl"
echo "== random policy for comparison"
$gym run text/maze-v0 --policy random --episodes 6
echo "== conformance of the example plugin"
$gym check bin/gym-plugin-guess
echo "== plugin overhead"
$gym bench plugin
