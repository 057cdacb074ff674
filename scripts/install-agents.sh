#!/usr/bin/env bash
# Install the pinned agent CLIs that Gastown drives, each into its own npm prefix
# (aider, a Python program, into its own venv under the same cache).
#
# Why one prefix per CLI: npm rolls back a whole `npm install` when any one package
# fails (kilo's platform packages are known to go missing), so a shared prefix would
# let an optional CLI take the required ones down with it.
#
# Usage: scripts/install-agents.sh [opencode] [claude] [codex] [kilo] [gemini] [aider]
#   no arguments = all six. opencode, claude, codex, gemini and aider are required (failure
#   exits 1); kilo is optional (failure is reported and ignored).
# Env:   GT_AGENT_CACHE  root of the prefixes (default: <repo>/.cache/agents)
#        NPM             npm binary (default: npm)
#        AIDER_PYTHON    Python for aider's venv (default: the first of python3.12, 3.11,
#                        3.10, python3 that runs and is 3.10-3.12, as aider-chat requires)
# Idempotent: a CLI whose pinned version is already installed is skipped.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${GT_AGENT_CACHE:-$repo/.cache/agents}"
npm_bin="${NPM:-npm}"

# name|npm package|exact version|binary name|required(1/0)
pins=(
  "opencode|opencode-ai|1.18.33|opencode|1"
  "claude|@anthropic-ai/claude-code|2.1.197|claude|1"
  "codex|@openai/codex|0.169.0|codex|1"
  "kilo|@kilocode/cli|7.7.7|kilo|0"
  "gemini|@google/gemini-cli|0.61.0|gemini|1"
  "aider|aider-chat|0.86.2|aider|1"
)

need_npm() {
  if ! command -v "$npm_bin" >/dev/null 2>&1; then
    echo "install-agents: npm not found (install Node.js >= 20 first)" >&2
    exit 1
  fi
}

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
  wanted=(opencode claude codex kilo gemini aider)
fi

# Validate names first so a typo fails before any slow download.
for w in "${wanted[@]}"; do
  found=0
  for p in "${pins[@]}"; do
    [ "${p%%|*}" = "$w" ] && found=1
  done
  if [ $found -eq 0 ]; then
    echo "install-agents: unknown agent '$w' (known: opencode claude codex kilo gemini aider)" >&2
    exit 2
  fi
done

aider_python() {
  # The first Python aider-chat supports (>=3.10,<3.13), or AIDER_PYTHON.
  if [ -n "${AIDER_PYTHON:-}" ]; then echo "$AIDER_PYTHON"; return; fi
  # Run each candidate: a pyenv shim exists on PATH even when it has no such version.
  for py in python3.12 python3.11 python3.10 python3; do
    if "$py" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' \
         >/dev/null 2>&1; then echo "$py"; return; fi
  done
}

pip_version() {
  # Print the installed version of pip package $2 in the venv $1, or nothing.
  [ -x "$1/bin/python" ] || return 0
  "$1/bin/python" -c 'import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]), end="")
except Exception: pass' "$2" 2>/dev/null
}

install_pip() {
  # A venv at $prefix (the adapter runs $prefix/bin/aider); a half-built one is replaced.
  local prefix="$1" pkg="$2" ver="$3" py
  py="$(aider_python)"
  if [ -z "$py" ]; then
    echo "install-agents: no python3.10-3.12 for $pkg (set AIDER_PYTHON)" >&2
    return 1
  fi
  rm -rf "$prefix"
  "$py" -m venv "$prefix" &&
    "$prefix/bin/python" -m pip install -q --disable-pip-version-check "$pkg==$ver"
}

installed_version() {
  # Print the version recorded in <prefix>/node_modules/<pkg>/package.json, or nothing.
  local pj="$1/node_modules/$2/package.json"
  [ -f "$pj" ] || return 0
  node -e 'try{process.stdout.write(require(process.argv[1]).version||"")}catch(e){}' "$pj"
}

status=0
summary=()
mkdir -p "$cache"
for w in "${wanted[@]}"; do
  for p in "${pins[@]}"; do
    IFS='|' read -r name pkg ver bin required <<<"$p"
    [ "$name" = "$w" ] || continue
    prefix="$cache/$name"
    if [ "$name" = "aider" ]; then
      binpath="$prefix/bin/$bin"
      have="$(pip_version "$prefix" "$pkg")"
    else
      binpath="$prefix/node_modules/.bin/$bin"
      have="$(installed_version "$prefix" "$pkg")"
    fi
    if [ "$have" = "$ver" ] && [ -x "$binpath" ]; then
      echo "install-agents: $name: $pkg@$ver already installed in $prefix, skipping"
      summary+=("$name $ver $binpath")
      continue
    fi
    echo "install-agents: $name: installing $pkg@$ver into $prefix (had: ${have:-nothing})"
    start=$(date +%s)
    if [ "$name" = "aider" ]; then
      install_pip "$prefix" "$pkg" "$ver"
    else
      need_npm
      mkdir -p "$prefix"
      # --no-save keeps npm from writing a package.json/lock that would pin stale versions;
      # --no-fund/--no-audit avoid extra registry calls.
      "$npm_bin" install --prefix "$prefix" --no-save --no-fund --no-audit \
        --loglevel=error "$pkg@$ver"
    fi
    if [ $? -eq 0 ] && [ -x "$binpath" ]; then
      echo "install-agents: $name: done in $(( $(date +%s) - start ))s"
      summary+=("$name $ver $binpath")
    elif [ "$required" = "1" ]; then
      echo "install-agents: $name: FAILED to install $pkg@$ver (required)" >&2
      summary+=("$name $ver FAILED")
      status=1
    else
      echo "install-agents: $name: failed to install $pkg@$ver (optional, ignored)" >&2
      summary+=("$name $ver FAILED-optional")
    fi
  done
done

for s in "${summary[@]}"; do
  read -r name ver path <<<"$s"
  echo "agent $name@$ver: $path"
done
exit $status
