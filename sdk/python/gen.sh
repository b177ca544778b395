#!/usr/bin/env bash
# Regenerates envgym/_proto/ from the wire protocol (wire/pb/env.proto)
# and go-plugin's health and controller protos (copied into proto/).
# Messages come from /usr/bin/protoc (3.21, matching Debian's
# python3-protobuf runtime); service stubs from python3-grpc-tools. The
# generated code is checked in: plugins need only python3-grpcio and
# python3-protobuf at run time. The Go test TestGeneratedCodeIsCurrent
# fails when this script would change anything.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-envgym/_proto}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp ../../wire/pb/env.proto proto/health.proto proto/grpc_controller.proto "$tmp/"
(cd "$tmp" && protoc -I. --python_out=. env.proto health.proto grpc_controller.proto)
stubs=yes
if ! (cd "$tmp" && /usr/bin/python3 -m grpc_tools.protoc -I. --grpc_python_out=. env.proto health.proto grpc_controller.proto); then
  # Without python3-grpc-tools the messages are still written (they carry
  # the protocol); the caller learns from the exit code that stubs are not.
  stubs=no
fi
for f in "$tmp"/*_pb2.py "$tmp"/*_pb2_grpc.py; do
  [ -e "$f" ] || continue
  # Generated stubs import their messages as top-level modules; inside the
  # package they are siblings.
  sed -E 's/^import ([a-z_]+_pb2) as /from . import \1 as /' "$f" >"$out/$(basename "$f")"
done
touch "$out/__init__.py"
if [ "$stubs" = no ]; then
  echo "gen.sh: python3-grpc-tools is missing: messages regenerated, service stubs not" >&2
  exit 3
fi
