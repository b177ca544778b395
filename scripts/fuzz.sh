#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (FUZZTIME, default 10s):
# the env action parsers and the serve API's request decoding. Their seed
# corpora (testdata/fuzz/) also run, unfuzzed, in every `go test ./...`.
# A failing input is written to the package's testdata/fuzz/ by go test;
# commit it with the fix so it stays a regression test.
#
#   bash scripts/fuzz.sh                 # all targets, 10s each
#   FUZZTIME=60s bash scripts/fuzz.sh serve   # only targets under serve/
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME="${FUZZTIME:-10s}"
targets=(
	"./envs/text FuzzStep"
	"./envs/search FuzzParseAction"
	"./envs/web/action FuzzParse"
	"./envs/gui/action FuzzParse"
	"./envs/swe FuzzParseAction"
	"./serve FuzzHTTP"
	"./serve FuzzStreamLines"
	"./llm FuzzParseAction"
)
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [[ $# -gt 0 && "$pkg" != *"$1"* ]]; then
		continue
	fi
	echo "== $pkg $name ($FUZZTIME)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$pkg $name")
	fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: every target ran $FUZZTIME without a failure"
