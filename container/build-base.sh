#!/usr/bin/env bash
# Build the town base image's root filesystem with debootstrap, as a tarball.
#
# For hosts where no image registry is reachable: the packages come from the host's own apt
# mirror (the first `URIs:` line of /etc/apt/sources.list.d/*.sources, else the first `deb`
# line of /etc/apt/sources.list, else deb.debian.org). The result is imported with
# `podman import <tar> localhost/gastown-base:<suite>` by gastown (gastown/daemon/runtime/engine.py),
# which also caches the tarball, so this runs once per machine (~50 s, ~400 MB).
#
# Usage: container/build-base.sh OUTPUT.tar [SUITE] [MIRROR]
# Env:   GT_BASE_PACKAGES  comma-separated packages to include
#                          (default: python3,git,bash,ca-certificates,nodejs)
# Needs root (debootstrap creates device nodes and chroots).
set -euo pipefail

out="${1:?usage: build-base.sh OUTPUT.tar [SUITE] [MIRROR]}"
suite="${2:-bookworm}"
mirror="${3:-}"
packages="${GT_BASE_PACKAGES:-python3,git,bash,ca-certificates,nodejs}"

if [ -z "$mirror" ]; then
  mirror="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- '-security' | head -n1 | awk '{print $2}' || true)"
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-base: debootstrap not found (scripts/install-system-deps.sh installs it)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "build-base: debootstrap needs root" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/gt-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "build-base: debootstrap $suite from $mirror (packages: $packages)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "build-base: debootstrap failed" >&2
  exit 1
}
# Smaller image, and nothing host-specific baked in.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
: >"$rootfs/etc/resolv.conf"
mkdir -p "$(dirname "$out")"
tar --numeric-owner -C "$rootfs" -cf "$out.part" .
mv "$out.part" "$out"
echo "build-base: wrote $out ($(du -h "$out" | cut -f1))"
