"""The environment of everything the daemon runs for a town: built from an allow-list.

Why: the daemon is often auto-started from a user's shell and inherits that shell's secrets
(GITHUB_TOKEN, cloud keys, OPENAI_API_KEY, SSH_AUTH_SOCK). None of that may reach an agent,
a gate or a git hook. So every environment starts EMPTY and gets only:
  - the basics a process needs: PATH, LANG, LC_*, TERM, TZ (from the daemon's environment);
  - what the caller adds on purpose (HOME, the GT_* variables, the adapter's model settings);
  - what the user named in `agent.env`: a name (its value taken from the daemon's
    environment) or `NAME=value`.
An `agent.env` name that is not set is reported when it is configured (`warnings`), never
silently at turn time.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

BASIC = ("PATH", "LANG", "TERM", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def gt_bin_dir() -> str:
    """The directory of the `gt` script that belongs to this interpreter."""
    return os.path.dirname(sys.executable)


def gt_path() -> str:
    """PATH for what the daemon runs (turns, gates): this interpreter's `gt` first, then the
    daemon's PATH (the allow-listed default when it has none)."""
    return gt_bin_dir() + os.pathsep + os.environ.get("PATH", DEFAULT_PATH)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names whose values are never shown (gt config, gt doctor, gt town show).
SECRET_WORDS = frozenset({"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "CREDENTIAL",
                          "CREDENTIALS", "AUTH", "PAT", "PRIVATE"})
MASK = "********"


def is_secret(name: str) -> bool:
    """True for names that look like they hold a secret (`*_KEY`, `*_TOKEN`, `agent.api_key`...)."""
    return any(word in SECRET_WORDS for word in re.split(r"[_.\-]", name.upper()))


def basic(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed basics from `environ` (default: the daemon's own)."""
    env = os.environ if environ is None else environ
    out = {k: env[k] for k in BASIC if env.get(k)}
    out.update({k: v for k, v in env.items() if k.startswith("LC_")})
    out.setdefault("PATH", DEFAULT_PATH)
    return out


def parse_spec(entry: str) -> tuple[str, str | None]:
    """`NAME` -> (NAME, None); `NAME=value` -> (NAME, value). ValueError on a bad name."""
    name, eq, value = entry.partition("=")
    name = name.strip()
    if not NAME_RE.match(name):
        raise ValueError(f"agent.env entry '{entry}' is not NAME or NAME=value")
    return name, (value if eq else None)


def extras(spec: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables `agent.env` asks for; a name that is not set in `environ` is left out."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for entry in spec:
        name, value = parse_spec(entry)
        if value is not None:
            out[name] = value
        elif name in env:
            out[name] = env[name]
    return out


def warnings(spec: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per `agent.env` name whose value would be taken from the daemon but is unset."""
    env = os.environ if environ is None else environ
    out = []
    for entry in spec:
        name, value = parse_spec(entry)
        if value is None and name not in env:
            out.append(f"agent.env: {name} is not set in the daemon's environment; agents will not receive it "
                       f"(set it before the daemon starts, or use {name}=value)")
    return out


def build(overlay: Mapping[str, str | None], spec: Sequence[str] = (),
          environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment: basics, then `agent.env`, then the caller's overlay
    (None in the overlay removes a variable, e.g. an adapter dropping one)."""
    env = basic(environ)
    env.update(extras(spec, environ))
    for key, value in overlay.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env.setdefault("TERM", "xterm-256color")
    return env


def describe(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows naming each variable and its value, secret-looking values masked."""
    return [{"name": k, "value": MASK if is_secret(k) and v else v} for k, v in sorted(env.items())]


def spec_of(value: Any) -> list[str]:
    """`agent.env` as a list of strings (a bad config value was refused at `gt config set`)."""
    return [str(v) for v in value] if isinstance(value, list) else []


# What every agent turn adds on top of the basics and agent.env (values differ per turn).
TURN_VARS = ("HOME", "GT_TOWN", "GT_AGENT", "GT_ROLE", "GT_BEAD_ID", "GT_AGENT_TOKEN", "GT_AGENT_SOCKET", "GT_BIN",
             "GT_REQUESTED_BY", "GT_PREVIOUS_FAILURE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
             "GIT_COMMITTER_EMAIL")


def summary(spec: Sequence[str], environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """What agents of a town receive, for `gt town show` / `gt doctor`: the allow-listed
    basics and agent.env with their values (secrets masked), then the per-turn variables and
    the adapter's model settings (agent.model, agent.base_url, agent.api_key) by name."""
    rows = [{**r, "from": "daemon"} for r in describe(basic(environ))]
    rows += [{**r, "from": "agent.env"} for r in describe(extras(spec, environ))]
    rows += [{"name": n, "value": MASK if is_secret(n) else "(per turn)", "from": "gastown"} for n in TURN_VARS]
    rows.append({"name": "(adapter model settings)", "value": "from agent.model / agent.base_url / agent.api_key",
                 "from": "config"})
    return rows
