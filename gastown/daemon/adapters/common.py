"""Helpers shared by the agent-CLI adapters: environment hygiene, base-URL forms and
reading JSON events out of a turn's raw PTY output."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

# The parent's own agent setup must not leak into a polecat (and CLAUDECODE makes claude
# refuse to start as a "nested" session).
STRIP_PREFIXES = ("CLAUDE", "ANTHROPIC", "OPENAI", "CODEX", "OPENCODE", "KILO", "GEMINI", "GOOGLE_GEMINI",
                  "AIDER")

# CSI / OSC / other two-byte escape sequences a CLI may print even in JSON mode under a PTY.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


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


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
