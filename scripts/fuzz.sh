#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (FUZZTIME, default 10s):
# the env action parsers and the serve API's request decoding. Their seed
# corpora (testdata/fuzz/) also run, unfuzzed, in every `go test ./...`.
# A failing input is written to the package's testdata/fuzz/ by go test;
# commit it with the fix so it stays a regression test.
#
#   bash scripts/fuzz.sh                 # all targets, 10s each
#   FUZZTIME=60s bash scripts/fuzz.sh serve   # only targets under serve/
#
# `make test` runs it with FUZZTIME=5s after the tests (55 s with a warm
# build cache, ~2 min cold, on a quiet 2-core machine, 8 targets: the rest is
# building each package with coverage instrumentation); any crasher fails
# the build. Task repositories
# under testdata/ (swe) are not ours and are skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME="${FUZZTIME:-10s}"
# Every fuzz target of the repository, found in its tracked test files,
# so a new parser's target is fuzzed without editing this list.
targets=()
while read -r f; do
	for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		targets+=("./$(dirname "$f") $name")
	done
done < <(git ls-files '*_test.go' | grep -v '/testdata/' | xargs grep -l '^func Fuzz' | sort)
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
failed=()
ran=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [[ $# -gt 0 && "$pkg" != *"$1"* ]]; then
		continue
	fi
	echo "== $pkg $name ($FUZZTIME)"
	ran=$((ran + 1))
	log=$(mktemp)
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"; then
		# Go's fuzz engine can end a run with "context deadline exceeded"
		# when -fuzztime runs out while a worker is mid-input: no input
		# failed and none is written. A real failure always writes one.
		if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"; then
			echo "fuzz: $pkg $name: the time ran out mid-input (no failing input); not a failure"
		else
			failed+=("$pkg $name")
		fi
	fi
	rm -f "$log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: $ran targets ran $FUZZTIME each without a failure"
