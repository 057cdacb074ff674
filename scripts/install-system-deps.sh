#!/usr/bin/env bash
# Install the system packages the container runtime and its tests need (Debian/Ubuntu, root).
#
#   podman runc catatonit uidmap slirp4netns fuse-overlayfs debootstrap tmux bubblewrap
#   (tmux: the TUI live test; bubblewrap: the sandbox of the local runtime, docs/security.md)
#
# Why runc: crun (what Debian's podman picks when both exist) fails on cgroup v1/hybrid hosts
# ("cgroups in hybrid mode not supported"); gastown then selects runc (docs/containers.md).
# Why catatonit: `--init` (fast stop, orphans reaped); podman only recommends it.
# debootstrap builds the town base image when no image registry is reachable.
#
# Idempotent: packages already installed are left alone, and when everything is present
# nothing runs (no apt-get update). Prints what it did. Exit status 0 on success.
# Env: GT_SYSTEM_DEPS  override the package list (space separated).
set -euo pipefail

pkgs=(${GT_SYSTEM_DEPS:-podman runc catatonit uidmap slirp4netns fuse-overlayfs debootstrap tmux bubblewrap})

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for p in "${pkgs[@]}"; do
  if installed "$p"; then
    echo "install-system-deps: $p already installed"
  else
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: apt-get not found; install by hand: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-system-deps: must run as root (or with sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: apt-get update"
"${sudo[@]}" apt-get update -q
echo "install-system-deps: apt-get install -y ${missing[*]}"
"${sudo[@]}" apt-get install -y -q "${missing[@]}"
for p in "${missing[@]}"; do
  if installed "$p"; then
    echo "install-system-deps: installed $p"
  else
    echo "install-system-deps: FAILED to install $p" >&2
    exit 1
  fi
done
