"""Town and rig settings in TOML files, resolved rig -> town -> default.

Only known keys are accepted, so a typo fails loudly instead of silently doing nothing.
Values given on the command line are parsed as TOML, then JSON, else kept as a string.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from gastown.protocol import ErrorCode, RpcError


@dataclass(frozen=True)
class Setting:
    default: Any
    help: str
    rig: bool = True  # may be overridden per rig


SETTINGS: dict[str, Setting] = {
    "runtime": Setting("local", "where agents run: local, podman or docker", rig=False),
    "agent.adapter": Setting("scripted", "agent CLI for polecats: opencode, claude, codex, aider, kilo, gemini, scripted"),
    "agent.model": Setting("", "model name passed to the agent CLI"),
    "agent.base_url": Setting("", "model endpoint base URL (OpenAI/Anthropic compatible)"),
    "agent.api_key": Setting("", "API key for agent.base_url"),
    "agent.instructions": Setting("", "extra instructions appended to every agent prompt"),
    "mayor.adapter": Setting("", "agent CLI of the mayor (default: agent.adapter)", rig=False),
    "rig.max_polecats": Setting(4, "most polecats working at once on a rig"),
    "dispatch.max_attempts": Setting(5, "dispatch attempts per bead before it fails"),
    "dispatch.backoff_scale": Setting(1.0, "multiplier of the retry backoff ladder (30 s, 1 min, 2 min, 5 min, 10 min)"),
    "refinery.gates": Setting([], "quality gate commands run before a merge"),
    "refinery.merge_mode": Setting("merge", "merge, rebase or squash"),
    "refinery.strategy": Setting("direct", "direct or pr"),
    "refinery.code_review": Setting(False, "let a refinery agent review each diff"),
    "refinery.max_retries": Setting(3, "rework rounds before a bead fails"),
    "patrol.gupp_minutes": Setting(30.0, "minutes without progress before a hooked agent is nudged "
                                   "(2x: escalated, 3x: reset)"),
    "patrol.crash_loop_restarts": Setting(5, "restarts within an hour that quarantine an agent", rig=False),
    "patrol.breaker_failures": Setting(20, "failed dispatches within breaker_minutes that stop all dispatch",
                                       rig=False),
    "patrol.breaker_minutes": Setting(30.0, "window (and pause) of the town-wide dispatch breaker", rig=False),
    "patrol.stranded_minutes": Setting(10.0, "minutes a ready bead may wait for capacity before it is reported",
                                       rig=False),
    "patrol.triage_agent": Setting(False, "ask a short-lived triage agent to judge stuck agents before escalating",
                                   rig=False),
    "patrol.triage_per_hour": Setting(3, "most triage runs an hour", rig=False),
    "nudge.ttl_minutes": Setting(30.0, "how long an undelivered nudge stays queued", rig=False),
    "escalation.reescalate_hours": Setting(4, "hours before an unacknowledged escalation is raised a level", rig=False),
    "notify.command": Setting("", "command run for high and critical escalations", rig=False),
    "container.sleep_after_minutes": Setting(30.0, "idle minutes before the town container stops", rig=False),
    "container.network": Setting("bridge", "container network: bridge, none or host", rig=False),
    "forge.kind": Setting("", "github, gitlab or gitea (default: told by the remote URL's host)"),
    "forge.api_url": Setting("", "forge REST API base URL (enterprise hosts, compatible servers)"),
    "forge.repo": Setting("", "OWNER/NAME on the forge, when the remote URL does not name it"),
    "forge.token": Setting("", "forge API token (default: GITHUB_TOKEN/GITLAB_TOKEN, then gh or glab)"),
    "refinery.auto_merge": Setting(False, "pr strategy: merge the PR once it is approved and its checks are green"),
    "costs.prices": Setting({}, "model prices overriding the built-ins: {MODEL = {input, output, cached}} in USD "
                            "per million tokens", rig=False),
    "budget.on_exhausted": Setting("finish", "when a budget runs out, running turns 'finish' or 'stop' "
                                   "(new turns never start)", rig=False),
    "container.setup": Setting([], "commands run as root when the town image is built (e.g. installing the "
                               "rig's test tools); the image is rebuilt when they change"),
    "container.base": Setting("", "the town image's base: an image reference or a Containerfile path "
                              "(default: Debian bookworm)", rig=False),
}

SECRETS = frozenset({"agent.api_key", "forge.token"})
"""Settings shown masked when the whole configuration is listed."""


def parse_value(raw: str) -> Any:
    """`'["a", "b"]'` -> list, `4` -> int, `true` -> bool, anything else stays a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def check_key(key: str, *, rig: bool) -> Setting:
    setting = SETTINGS.get(key)
    if setting is None:
        close = difflib.get_close_matches(key, SETTINGS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown setting '{key}'{hint}")
    if rig and not setting.rig:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"'{key}' is a town setting; it cannot be set per rig")
    return setting


def check_type(key: str, value: Any) -> Any:
    default = SETTINGS[key].default
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif key == "refinery.gates":  # command strings or {name, cmd, timeout} tables
        ok = isinstance(value, list) and all(
            isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("cmd"), str)) for v in value)
    elif key == "costs.prices":
        from gastown.pricing import check_overrides

        problem = check_overrides(value)
        if problem:
            raise RpcError(ErrorCode.INVALID_PARAMS, problem)
        ok = True
    elif key == "budget.on_exhausted":
        ok = value in ("finish", "stop")
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        kind = type(default).__name__
        raise RpcError(ErrorCode.INVALID_PARAMS, f"'{key}' takes a {kind} value, not {json.dumps(value)}")
    return value


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise RpcError(ErrorCode.INVALID_STATE, f"{path}: invalid TOML: {exc}") from None


def get_dotted(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_dotted(path: Path, key: str, value: Any) -> None:
    """Write one key into a TOML file atomically (None removes it)."""
    data = load(path)
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(tomli_w.dumps(data))
    os.replace(tmp, path)


def resolve(key: str, town_cfg: dict[str, Any], rig_cfg: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The effective value of a known key and where it came from: rig, town or default."""
    check_key(key, rig=False)
    if rig_cfg is not None:
        value = get_dotted(rig_cfg, key)
        if value is not None:
            return value, "rig"
    value = get_dotted(town_cfg, key)
    if value is not None:
        return value, "town"
    return SETTINGS[key].default, "default"
