#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine (as root) for envgym:
# system packages, the Docker engine, the gym CLI and every env plugin,
# installed into the plugin directory. Safe to run again: it only does
# what is missing, and always rebuilds the Go binaries (seconds when cached).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# System packages the whole project needs. Add to this list, never remove:
# chromium (web and GUI envs; chromium-headless-shell is what they run when
# present: a fraction of the full browser's cost per context), docker.io (SWE sandboxes), libtorch-dev and
# libopenblas0-pthread (trainer and world model), protobuf-compiler
# (regenerating the plugin protocol), xvfb/xdotool/x11-apps (GUI desktop),
# mmdebstrap (the Debian rootfs of the container images: make images).
PACKAGES=(ca-certificates git build-essential chromium chromium-headless-shell docker.io libtorch-dev libopenblas0-pthread
  protobuf-compiler xvfb xdotool x11-apps x11-utils xterm procps iproute2 python3-grpcio python3-protobuf
  mmdebstrap)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages: ${missing[*]}; run this script as root" && exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null; then
  export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null || { log "Go is not installed (want Go >= 1.26 at /usr/local/go)"; exit 1; }

# The Docker engine: started here because no init system runs it. The
# SWE env needs it; nothing else does, so a failure is a warning.
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (nohup dockerd >/var/log/envgym-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || log "warning: dockerd did not start; see /var/log/envgym-dockerd.log"
fi

bash scripts/setup-gotch.sh

# Node and the official MCP TypeScript SDK, for the MCP interop test
# (serve/mcp_test.go drives serve/testdata/mcpjs). Debian's nodejs and npm
# when no node is installed; the SDK from npm, pinned by package-lock.json
# into the folder's (gitignored) node_modules.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    log "node/npm missing; run this script as root" && exit 1
  fi
  log "installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends nodejs npm || { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
fi
MCPJS=serve/testdata/mcpjs
if ! cmp -s "$MCPJS/package-lock.json" "$MCPJS/node_modules/.package-lock.json.installed" 2>/dev/null; then
  log "installing the MCP TypeScript SDK into $MCPJS/node_modules"
  npm ci --prefix "$MCPJS" --no-audit --no-fund --loglevel=error
  cp "$MCPJS/package-lock.json" "$MCPJS/node_modules/.package-lock.json.installed"
fi

# Build the CLI and every plugin, then install the plugins (binary +
# manifest with its sha256) into the plugin directory.
export GOFLAGS=${GOFLAGS:--mod=mod}
mkdir -p bin
log "building bin/gym and plugins"
go build -o bin/gym ./cmd/gym
# The plugin sandbox's init, executed at every plugin start: small, so that
# no start loads gym's libraries (libtorch).
go build -o bin/gym-sandbox-init ./cmd/gym-sandbox-init
plugins=()
for dir in envs/*/cmd/gym-plugin-* examples/*/cmd/gym-plugin-* internal/*/cmd/gym-plugin-*; do
  [[ -d $dir ]] || continue
  name=$(basename "$dir")
  go build -o "bin/$name" "./$dir"
  plugins+=("$name")
done

PLUGIN_DIR=${GYM_PLUGIN_DIR:-$(bin/gym plugin dir)}
for name in "${plugins[@]}"; do
  # Per-plugin sandbox: browsers need more memory and processes; none
  # gets the network (they serve their sites on their own loopback).
  args=()
  case $name in
    gym-plugin-web|gym-plugin-gui) args=(--memory-mb 4096 --max-pids 4096) ;;
    gym-plugin-search) args=(--memory-mb 4096) ;;
    # swe keeps root (its namespace backend: user namespaces, a cgroup
    # subtree the host delegates) and Docker through a broker of its own
    # (plugins/dockerbroker: only containers of its sandboxes' shape),
    # inside the file sandbox (host read-only, secrets hidden; its episode
    # dirs live in its scratch dir, the same path for dockerd); the code it
    # runs is confined by swe's own sandboxes. Every other plugin runs as
    # an unprivileged uid without Docker.
    gym-plugin-swe) args=(--memory-mb 8192 --max-pids 4096 --root --docker) ;;
  esac
  bin/gym plugin install "bin/$name" --plugin-dir "$PLUGIN_DIR" "${args[@]}" >/dev/null
done
# Python example plugins (their envgym SDK folder is a symlink the
# installer follows, so the installed copy stands alone).
for script in examples/python/*/main.py; do
  bin/gym plugin install "$script" --name "py-$(basename "$(dirname "$script")")" --plugin-dir "$PLUGIN_DIR" >/dev/null
  plugins+=("$script")
done
log "installed ${#plugins[@]} plugins into $PLUGIN_DIR"
log "ready: try bin/gym list"
