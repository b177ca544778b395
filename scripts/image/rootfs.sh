#!/usr/bin/env bash
# rootfs.sh FAMILY PACKAGE... — prints the path of a cached Debian rootfs
# tarball holding the Essential packages plus PACKAGE..., built with
# mmdebstrap from the Debian archive (SUITE, SUITE-updates and
# SUITE-security, so Chromium has its security updates; no image registry).
#
# The tarball is cached under ${ENVGYM_IMAGE_CACHE:-~/.cache/envgym/images}
# keyed by the suite, mirror, architecture, package list and this script:
# running it again returns the cached file in milliseconds. Builds are
# reproducible for the same package versions (SOURCE_DATE_EPOCH fixes
# every timestamp; mmdebstrap sorts the tar); the versions that went in are
# written beside the tarball (FILE.packages) and into the rootfs at
# /usr/share/envgym/packages.txt.
set -euo pipefail
family=${1:?usage: rootfs.sh FAMILY [PACKAGE...]}
shift
suite=${ENVGYM_DEBIAN_SUITE:-bookworm}
mirror=${ENVGYM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${ENVGYM_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
arch=$(dpkg --print-architecture)
cache=${ENVGYM_IMAGE_CACHE:-$HOME/.cache/envgym/images}
mkdir -p "$cache"

command -v mmdebstrap >/dev/null || { echo "rootfs.sh: mmdebstrap is missing (scripts/setup.sh installs it: apt-get install mmdebstrap)" >&2; exit 1; }

mapfile -t pkgs < <(printf '%s\n' "$@" | sort -u | sed '/^$/d')
key=$( { echo "$suite $mirror $security $arch"; printf '%s\n' "${pkgs[@]}"; cat "$0"; } | sha256sum | cut -c1-16)
out=$cache/rootfs-$family-$key.tar
if [[ -s $out ]]; then
  echo "$out"
  exit 0
fi

# A fixed date (the suite's release day) rather than "now", so two builds
# of the same packages give the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1686355200}
include=$(IFS=,; echo "${pkgs[*]}")
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
# Documentation, man pages and translations are not needed in a server
# image (Chromium's own locales live under /usr/lib/chromium and stay).
mmdebstrap --quiet --variant=essential --arch="$arch" --format=tar \
  ${include:+--include="$include"} \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook='mkdir -p "$1/usr/share/envgym" && chroot "$1" dpkg-query -W -f="\${Package}=\${Version}\n" | sort > "$1/usr/share/envgym/packages.txt"' \
  --customize-hook='copy-out /usr/share/envgym/packages.txt '"$cache/.pk-$$" \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
  "$suite" "$tmp" \
  "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security $suite-security main" >&2
mv "$cache/.pk-$$/packages.txt" "$out.packages" 2>/dev/null || true
rmdir "$cache/.pk-$$" 2>/dev/null || true
mv "$tmp" "$out"
echo "$out"
