#!/usr/bin/env bash
# Prepares third_party/gotch: github.com/sugarme/gotch v0.8.0 copied from
# the Go module cache and patched (scripts/patch-gotch.py) to build against
# Debian's libtorch-dev 1.13. go.mod replaces gotch with this copy, so run
# this before building trainer/ (scripts/setup.sh does). Idempotent: a stamp
# holding the hash of the patch script skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup-gotch]\033[0m %s\n' "$*" >&2; }

VERSION=v0.8.0
DEST=third_party/gotch
STAMP=$DEST/.envgym-patched
want="$VERSION $(sha256sum scripts/patch-gotch.py | cut -d' ' -f1)"

if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
  exit 0
fi

for p in libtorch-dev libopenblas0-pthread python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    { log "missing package $p (scripts/setup.sh installs it as root)"; exit 1; }
done

src=$(GOFLAGS=-mod=mod go mod download -json "github.com/sugarme/gotch@$VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
[[ -d $src ]] || { log "gotch $VERSION not in the module cache"; exit 1; }

log "copying gotch $VERSION into $DEST and patching it for libtorch 1.13 (first time ~1 min)"
rm -rf "$DEST"
mkdir -p third_party
cp -r "$src" "$DEST"
chmod -R u+w "$DEST"
python3 scripts/patch-gotch.py "$DEST"
echo "$want" >"$STAMP"
log "ready; the first cgo build of a package using it takes ~2 min and ~2.3 GB"
