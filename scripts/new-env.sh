#!/usr/bin/env bash
# The README's "Write your own env" walkthrough, timed end to end: gym init
# a Go env and a Python env in a scratch folder outside the checkout, test,
# check, install and run each. Prints each step's seconds and the total.
# Usage: bash scripts/new-env.sh   (after scripts/setup.sh built bin/gym)
set -euo pipefail
cd "$(dirname "$0")/.."
GYM=${GYM:-$PWD/bin/gym}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GYM_PLUGIN_DIR=$work/plugins
start=$(date +%s.%N)
step() {
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$work" && eval "$1") >"$work/step.log" 2>&1 || { cat "$work/step.log"; echo "FAILED: $1"; exit 1; }
  t1=$(date +%s.%N)
  printf '%6.1f s  %s\n' "$(awk "BEGIN{print $t1 - $t0}")" "$1"
}
step "$GYM init go warehouse"
step "cd warehouse && make test GYM=$GYM"
step "cd warehouse && make check GYM=$GYM"
step "cd warehouse && make install GYM=$GYM"
step "$GYM run local/warehouse-v0 --policy oracle --episodes 3"
step "$GYM init python lights"
step "cd lights && /usr/bin/python3 -m unittest -q test_env"
step "$GYM check lights/main.py"
step "$GYM plugin install lights/main.py --interpreter /usr/bin/python3"
step "$GYM run local/lights-v0 --policy oracle --episodes 3"
printf '%6.1f s  total\n' "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
