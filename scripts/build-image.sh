#!/usr/bin/env bash
# build-image.sh [-t TAG] [FAMILY...] — builds the envgym container images
# locally, with no registry and no base image to pull. FAMILY is core
# (default), web, gui, swe or all; each image is tagged envgym-FAMILY:local
# (-t TAG names the image when one family is built).
#
#   envgym-core  FROM scratch: static gym + text, search, guess and bench plugins
#   envgym-web   Debian rootfs with Chromium + the web plugin
#   envgym-gui   Debian rootfs with Chromium, Xvfb, xterm, xcalc, xedit + the gui plugin
#   envgym-swe   Debian rootfs + the Go toolchain (/usr/local/go) + the swe plugin
#                (namespace backend; the Docker backend stays a host concern)
#
# The Debian rootfs comes from mmdebstrap and the Debian archive
# (scripts/image/rootfs.sh), cached under ~/.cache/envgym/images keyed by
# its package list, and imported once with `docker import`; our layer on
# top (gym, gym-sandbox-init, the installed plugins, HEALTHCHECK,
# ENTRYPOINT) is a `docker build FROM` that image, so running this again
# only rebuilds the Go binaries and the small top layer.
#
# Every image runs `gym serve` (ENTRYPOINT gym, CMD serve on 0.0.0.0:8080
# HTTP and :8081 stream): give it a token (GYM_SERVE_TOKEN, or
# --token-file /run/secrets/…), since gym serve refuses non-loopback
# addresses without one. HEALTHCHECK is `gym healthcheck` (GET /healthz
# and the family's OpenEnv /health), which needs no shell.
#
# Why gym runs as root inside: the plugin sandbox gives every plugin a uid
# of its own (setuid/setgid/chown), so the plugins run unprivileged while
# the host cannot. Docker's default capability set is enough to start
# every plugin but swe; CAP_SYS_ADMIN adds the per-plugin PID/IPC/UTS and
# mount namespaces (`gym list` PROTECTIONS says which are off and why);
# deploy/SCALE.md lists what each family needs. The plugins are installed
# with the network of their container (`--network`): a plugin cannot make
# its own network namespace without CAP_SYS_ADMIN and CAP_NET_ADMIN, so the
# container is the network boundary (an internal overlay network in
# deploy/swarm, the NetworkPolicy in deploy/k8s, --network none by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=
while getopts t: opt; do
  case $opt in
    t) tag=$OPTARG ;;
    *) echo "usage: $0 [-t TAG] [core|web|gui|swe|all]..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
families=("${@:-core}")
if [[ " ${families[*]} " == *" all "* ]]; then
  families=(core web gui swe)
fi
if [[ -n $tag && ${#families[@]} -ne 1 ]]; then
  echo "build-image.sh: -t names one image; got families ${families[*]}" >&2
  exit 2
fi
docker info >/dev/null 2>&1 || { echo "build-image.sh: the Docker engine is not reachable (scripts/setup.sh starts dockerd)" >&2; exit 1; }

export CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--mod=mod}
export PATH=$PATH:/usr/local/go/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Debian packages per family, besides the Essential set.
declare -A packages=(
  [web]="chromium-headless-shell fonts-liberation fonts-dejavu-core"
  [gui]="chromium-headless-shell fonts-liberation fonts-dejavu-core xvfb xfonts-base xterm x11-apps"
  [swe]="ca-certificates"
)
# Plugins per family, with their sandbox limits (as scripts/setup.sh).
declare -A plugins=(
  [core]="text search guess bench"
  [web]="web"
  [gui]="gui"
  [swe]="swe"
)
declare -A health=(
  [core]="text/maze-v0"
  [web]="web/shop-v0"
  [gui]="gui/phone-v0"
  [swe]="swe/gomut-v0"
)
plugin_src() {
  case $1 in
    guess) echo ./examples/guess/cmd/gym-plugin-guess ;;
    bench) echo ./internal/benchenv/cmd/gym-plugin-bench ;;
    *) echo "./envs/$1/cmd/gym-plugin-$1" ;;
  esac
}
plugin_args() {
  case $1 in
    web | gui) echo --memory-mb 4096 --max-pids 4096 --network ;;
    search) echo --memory-mb 4096 --network ;;
    # swe's namespace backend makes its own sandboxes (root, host files);
    # no --docker: the Docker backend stays a host concern.
    swe) echo --memory-mb 8192 --max-pids 4096 --host-files --root --network ;;
    *) echo --network ;;
  esac
}

# The binaries every image shares, built once.
bins=$tmp/bin
mkdir -p "$bins"
go build -tags notorch -trimpath -ldflags='-s -w' -o "$bins/gym" ./cmd/gym
go build -trimpath -ldflags='-s -w' -o "$bins/gym-sandbox-init" ./cmd/gym-sandbox-init

build_family() {
  local family=$1 image=$2 start=$SECONDS
  local ctx=$tmp/$family root=$tmp/$family/root
  mkdir -p "$root/usr/local/bin" "$root/opt/envgym/plugins" "$root/var/lib/envgym" "$root/tmp"
  chmod 1777 "$root/tmp"
  chmod 0755 "$root/var/lib/envgym" "$root/opt/envgym" "$root/opt/envgym/plugins"
  cp "$bins/gym" "$bins/gym-sandbox-init" "$root/usr/local/bin/"
  local p
  for p in ${plugins[$family]}; do
    go build -trimpath -ldflags='-s -w' -o "$tmp/gym-plugin-$p" "$(plugin_src "$p")"
    # shellcheck disable=SC2046
    "$root/usr/local/bin/gym" plugin install "$tmp/gym-plugin-$p" --plugin-dir "$root/opt/envgym/plugins" $(plugin_args "$p") >/dev/null
  done

  local from=scratch
  if [[ $family == core ]]; then
    mkdir -p "$root/etc"
    echo 'root:x:0:0:root:/var/lib/envgym:/usr/local/bin/gym' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
  else
    local tarball key
    # shellcheck disable=SC2086
    tarball=$(bash scripts/image/rootfs.sh "$family" ${packages[$family]})
    key=$(basename "$tarball" .tar)
    key=${key##*-}
    from=envgym-rootfs-$family:$key
    if ! docker image inspect "$from" >/dev/null 2>&1; then
      docker import "$tarball" "$from" >/dev/null
    fi
    # Older rootfs of this family (another package list or script): the
    # cache keeps one per family.
    local old
    for old in "$(dirname "$tarball")/rootfs-$family-"*.tar; do
      [[ $old == "$tarball" ]] || rm -f "$old" "$old.packages"
    done
    docker image ls --format '{{.Repository}}:{{.Tag}}' "envgym-rootfs-$family" | grep -vx "$from" | xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  if [[ $family == swe ]]; then
    # Debian's golang (1.19) is older than the modules swe generates (go
    # 1.24); the swe plugin runs the Go toolchain this project builds with.
    local goroot
    goroot=$(go env GOROOT)
    mkdir -p "$root/usr/local"
    cp -a "$goroot" "$root/usr/local/go"
    rm -rf "$root/usr/local/go/pkg/tool/"*/{doc,fix} "$root/usr/local/go/api" "$root/usr/local/go/test" "$root/usr/local/go/doc"
  fi

  local probe="\"--openenv\", \"${health[$family]}\""
  cat >"$ctx/Dockerfile" <<EOF
FROM $from
COPY root/ /
ENV HOME=/var/lib/envgym GYM_PLUGIN_DIR=/opt/envgym/plugins PATH=/usr/local/go/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="envgym-$family" org.opencontainers.image.source="https://github.com/envgym/envgym"
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/gym", "healthcheck", $probe]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gym"]
CMD ["serve", "--http", "0.0.0.0:8080", "--stream", "0.0.0.0:8081"]
EOF
  # The classic builder: FROM a local image never pulls.
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null 2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; exit 1; }
  local size
  size=$(docker image inspect -f '{{.Size}}' "$image")
  printf '%s\t%d MB\t%ds\n' "$image" $((size / 1000000)) $((SECONDS - start)) >&2
  echo "$image"
}

for f in "${families[@]}"; do
  case $f in
    core | web | gui | swe) build_family "$f" "${tag:-envgym-$f:local}" ;;
    *) echo "build-image.sh: unknown family $f (core, web, gui, swe, all)" >&2; exit 2 ;;
  esac
done
