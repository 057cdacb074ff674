"""Helpers shared by the agent-CLI adapters: environment hygiene, base-URL forms and
reading JSON events out of a turn's raw PTY output."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# The parent's own agent setup must not leak into a polecat (and CLAUDECODE makes claude
# refuse to start as a "nested" session).
STRIP_PREFIXES = ("CLAUDE", "ANTHROPIC", "OPENAI", "CODEX", "OPENCODE", "KILO", "GEMINI", "GOOGLE_GEMINI",
                  "AIDER")

# CSI / OSC / other two-byte escape sequences a CLI may print even in JSON mode under a PTY.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()*+][0-~]|\x1b[@-Z\\-_0-?]"
                   r"|[\x00-\x08\x0e-\x1f]")


def stripped_env(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """`None` (= unset in the turn's environment) for every inherited agent variable."""
    env = os.environ if environ is None else environ
    return {k: None for k in env if k.startswith(STRIP_PREFIXES)}


def bare_base(url: str) -> str:
    """The base URL with no trailing `/v1` (or slash)."""
    url = url.strip().rstrip("/")
    while url.endswith("/v1"):
        url = url[:-3].rstrip("/")
    return url


def openai_base(url: str) -> str:
    """OpenAI-compatible clients want the URL up to and including `/v1`."""
    bare = bare_base(url)
    return f"{bare}/v1" if bare else ""


def anthropic_base(url: str) -> str:
    """Anthropic clients append `/v1/messages` themselves: the URL without `/v1`."""
    return bare_base(url)


def json_events(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects printed one per line, from raw PTY output (\\r\\n line ends, escape
    codes, other output interleaved). Lines that are not a JSON object are skipped."""
    for raw in text.split("\n"):  # not splitlines(): JSON.stringify leaves U+2028 unescaped
        line = _ANSI.sub("", raw).strip(" \t\r")
        start = line.find("{")
        if start < 0:
            continue
        try:
            obj = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


def stream_items(text: str) -> Iterator[dict[str, Any] | str]:
    """Like :func:`json_events`, but the other non-empty lines come through as strings
    (without escape codes): what a CLI printed outside its event stream."""
    for raw in text.split("\n"):
        line = _ANSI.sub("", raw).strip(" \t\r")
        if not line:
            continue
        start = line.find("{")
        if start >= 0:
            try:
                obj = json.loads(line[start:])
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                yield obj
                continue
        yield line


def plain_lines(text: str) -> Iterator[str]:
    """The output's lines without escape codes and carriage returns (empty lines kept)."""
    for raw in text.split("\n"):
        yield _ANSI.sub("", raw).rstrip(" \t\r").split("\r")[-1]


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (CLI output is not trusted)."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


PROFILE_MARK = "# Written by Gastown"
PROFILE = PROFILE_MARK + """: a login shell (codex runs its commands with `bash -lc`) resets PATH
# in /etc/profile, and then `gt` is not found. Put the directory of `gt` back in front.
if [ -n "$GT_BIN" ]; then
  case ":$PATH:" in
    *":${GT_BIN%/*}:"*) ;;
    *) PATH="${GT_BIN%/*}:$PATH"; export PATH ;;
  esac
fi
"""


def write_login_profile(home: Path) -> None:
    """`<home>/.profile` keeping `gt` on PATH in login shells (left alone if not ours)."""
    path = home / ".profile"
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = None
    if current is None or (current.startswith(PROFILE_MARK) and current != PROFILE):
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(PROFILE)
