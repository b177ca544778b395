#!/usr/bin/env bash
# Builds the container image envgym:local for `gym serve` on Kubernetes
# (deploy/k8s), locally: no registry, no base image to pull. The image is
# a scratch rootfs imported with `docker import`: static gym and plugin
# binaries with their manifests. Browser-based envs need Chromium's
# libraries and are not in this image; the text and search envs are.
#
# Inside a container the plugins cannot make network namespaces or
# cgroups (no CAP_SYS_ADMIN by default), so their manifests ask for the
# network and the container provides the isolation: run it with
# --network none, or the NetworkPolicy of deploy/k8s.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-envgym:local}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/plugins" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
export CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--mod=mod}
go build -tags notorch -trimpath -ldflags='-s -w' -o "$root/bin/gym" ./cmd/gym
for p in text search; do
  go build -trimpath -ldflags='-s -w' -o "$tmp/gym-plugin-$p" "./envs/$p/cmd/gym-plugin-$p"
  "$root/bin/gym" plugin install "$tmp/gym-plugin-$p" --plugin-dir "$root/plugins" --network >/dev/null
done
go build -trimpath -ldflags='-s -w' -o "$tmp/gym-plugin-guess" ./examples/guess/cmd/gym-plugin-guess
"$root/bin/gym" plugin install "$tmp/gym-plugin-guess" --plugin-dir "$root/plugins" --network >/dev/null
echo 'root:x:0:0:root:/tmp:/bin/gym' >"$root/etc/passwd"
tar -C "$root" -c . | docker import \
  --change 'ENTRYPOINT ["/bin/gym", "--plugin-dir", "/plugins"]' \
  --change 'ENV HOME=/tmp' \
  --change 'EXPOSE 8080 8081' \
  - "$tag" >/dev/null
echo "$tag"
