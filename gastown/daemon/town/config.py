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
from typing import Any, Callable, TypeVar

import tomli_w

from gastown.protocol import ErrorCode, RpcError

K = TypeVar("K")


@dataclass(frozen=True)
class Setting:
    default: Any
    help: str
    rig: bool = True  # may be overridden per rig
    choices: tuple[str, ...] = ()  # the allowed values of a text setting (empty: any text)


AGENTS = ("opencode", "claude", "codex", "aider", "kilo", "gemini", "scripted")
"""The agent adapters a setting may name (tests check this against the adapter registry)."""


SETTINGS: dict[str, Setting] = {
    "runtime": Setting("local", "where agents run: local, podman or docker", rig=False,
                       choices=("local", "podman", "docker")),
    "agent.adapter": Setting("", "agent CLI for polecats: opencode, claude, codex, aider, kilo, gemini, scripted "
                             "(detected at 'gt town create'; empty: none usable yet)", choices=("", *AGENTS)),
    "agent.model": Setting("", "model name passed to the agent CLI"),
    "agent.base_url": Setting("", "model endpoint base URL (OpenAI/Anthropic compatible)"),
    "agent.api_key": Setting("", "API key for agent.base_url"),
    "agent.instructions": Setting("", "extra instructions appended to every agent prompt"),
    "mayor.adapter": Setting("", "agent CLI of the mayor (default: agent.adapter)", rig=False,
                             choices=("", *AGENTS)),
    "mayor.notice_minutes": Setting(10.0, "the Mayor hears of new escalations and failed beads in a turn of its "
                                    "own at most this often (0: only when a human talks to it)", rig=False),
    "rig.max_polecats": Setting(4, "most polecats working at once on a rig"),
    "dispatch.max_attempts": Setting(5, "dispatch attempts per bead before it fails"),
    "dispatch.backoff_scale": Setting(1.0, "multiplier of the retry backoff ladder (30 s, 1 min, 2 min, 5 min, 10 min)"),
    "refinery.gates": Setting([], "quality gate commands run before a merge"),
    "refinery.merge_mode": Setting("merge", "merge, rebase or squash", choices=("merge", "rebase", "squash")),
    "refinery.strategy": Setting("direct", "direct or pr", choices=("direct", "pr")),
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
    "escalation.reescalate_hours": Setting(4.0, "hours before an unacknowledged escalation is raised a level",
                                           rig=False),
    "notify.command": Setting("", "command run for high and critical escalations (and the alerts of notify.level)",
                              rig=False),
    "notify.level": Setting("needs_me", "alerts to the human: off, needs_me (a bead failed for good) or all (also "
                            "beads and convoys that landed)", rig=False, choices=("off", "needs_me", "all")),
    "container.sleep_after_minutes": Setting(30.0, "idle minutes before the town container stops", rig=False),
    "container.network": Setting("bridge", "container network: bridge, none or host", rig=False,
                                 choices=("bridge", "none", "host")),
    "forge.kind": Setting("", "github, gitlab or gitea (default: told by the remote URL's host)",
                          choices=("", "github", "gitlab", "gitea")),
    "forge.api_url": Setting("", "forge REST API base URL (enterprise hosts, compatible servers)"),
    "forge.repo": Setting("", "OWNER/NAME on the forge, when the remote URL does not name it"),
    "forge.token": Setting("", "forge API token (default: GITHUB_TOKEN/GITLAB_TOKEN, then gh or glab)"),
    "forge.close_issues": Setting(False, "close an imported issue when its bead lands (else only comment)"),
    "refinery.pr_poll_seconds": Setting(10.0, "pr strategy: seconds between two looks at one open pull request",
                                        rig=False),
    "refinery.auto_merge": Setting(False, "pr strategy: merge the PR once it is approved and its checks are green"),
    "costs.prices": Setting({}, "model prices overriding the built-ins: {MODEL = {input, output, cached}} in USD "
                            "per million tokens", rig=False),
    "budget.on_exhausted": Setting("finish", "when a budget runs out, running turns 'finish' or 'stop' "
                                   "(new turns never start)", rig=False),
    "container.setup": Setting([], "commands run as root when the town image is built (e.g. installing the "
                               "rig's test tools); the image is rebuilt when they change"),
    "container.base": Setting("", "the town image's base: an image reference or a Containerfile path "
                              "(default: Debian bookworm)", rig=False),
    "agent.persona": Setting("", "persona of polecats when a sling or a formula step names none (gt persona list)"),
    "archive.after_days": Setting(0.0, "archive beads closed this many days ago (0: never); gt bead list --archived "
                                  "still shows them", rig=False),
    "agent.env": Setting([], "extra variables agents and gates receive: NAME (value from the daemon's "
                         "environment) or NAME=value; nothing else of the daemon's environment is passed"),
    "sandbox": Setting("auto", "local runtime sandbox (bubblewrap): auto (use it when it works), required "
                       "(no turn without it) or off", rig=False, choices=("auto", "required", "off")),
    "loop.idle_seconds": Setting(30.0, "seconds between two ticks of the town's loop while nothing is under way "
                                 "(any change wakes it at once; at least 0.2)", rig=False),
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
        if key == "runtime.sandbox":  # `runtime` is a plain value in TOML, so the sandbox has its own key
            close = ["sandbox"]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown setting '{key}'{hint}")
    if rig and not setting.rig:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"'{key}' is a town setting; it cannot be set per rig")
    return setting


KINDS = {bool: "true or false", float: "a number (fractions allowed, e.g. 0.5)", int: "a whole number",
         list: "a list of text values, e.g. '[\"a\", \"b\"]'", str: "text", dict: "a table"}
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(key: str, value: Any) -> Any:
    """`90s`, `2.5m`, `1h` for the *_minutes / *_hours settings, in the setting's own unit."""
    per = 60.0 if key.endswith("_minutes") else 3600.0 if key.endswith("_hours") else 0.0
    if not per or not isinstance(value, str) or len(value) < 2 or value[-1] not in UNITS:
        return value
    try:
        return float(value[:-1]) * UNITS[value[-1]] / per
    except ValueError:
        return value


def problem(key: str, value: Any) -> str | None:
    """Why `value` is not valid for the known setting `key` (None: it is)."""
    setting = SETTINGS[key]
    default = setting.default
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (float, int) if isinstance(default, float) else int) and not isinstance(value, bool)
        if ok and value < 0:
            return f"'{key}' must not be negative, not {value}"
    elif key == "refinery.gates":  # command strings or {name, cmd, timeout} tables
        ok = isinstance(value, list) and all(
            isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("cmd"), str)) for v in value)
        if not ok:
            return f"'{key}' takes a list of commands, e.g. '[\"pytest -q\"]', not {json.dumps(value)}"
    elif key == "costs.prices":
        from gastown.pricing import check_overrides

        return check_overrides(value) or None
    elif key == "budget.on_exhausted":
        if value not in ("finish", "stop"):
            close = difflib.get_close_matches(str(value), ("finish", "stop"), n=1, cutoff=0.5)
            return f"invalid {key} '{value}'" + (f" (did you mean '{close[0]}'?)" if close else "") + \
                ": use one of finish, stop"
        ok = True
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        return f"'{key}' takes {KINDS[type(default)]}, not {json.dumps(value)}"
    if key == "agent.env":
        from gastown.daemon.town import agentenv

        try:
            for entry in value:
                agentenv.parse_spec(entry)
        except ValueError as exc:
            return str(exc)
    if setting.choices and value not in setting.choices:
        close = difflib.get_close_matches(str(value), [c for c in setting.choices if c], n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        allowed = ", ".join(c or "'' (unset)" for c in setting.choices)
        return f"invalid {key} '{value}'{hint}: use one of {allowed}"
    return None


def check_type(key: str, value: Any) -> Any:
    """The value to store for `key` (durations with units converted), or INVALID_PARAMS
    with the allowed values and a "did you mean"."""
    value = _duration(key, value)
    why = problem(key, value)
    if why:
        raise RpcError(ErrorCode.INVALID_PARAMS, why)
    return value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a loaded file; a known key is a leaf even when its value is a table."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in SETTINGS:
            out.update(flatten(value, key + "."))
        else:
            out[key] = value
    return out


def problems(path: Path, *, rig: bool = False) -> list[str]:
    """Everything wrong with one settings file, one line each (a hand edit is never only a
    traceback): TOML syntax, unknown keys, town-only keys per rig, bad values."""
    try:
        data = load(path)
    except RpcError as exc:
        return [exc.message]
    out = []
    for key, value in flatten(data).items():
        if key not in SETTINGS:
            close = difflib.get_close_matches(key, SETTINGS, n=1)
            out.append(f"{path}: unknown setting '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        elif rig and not SETTINGS[key].rig:
            out.append(f"{path}: '{key}' is a town setting; it is ignored per rig")
        elif (why := problem(key, _duration(key, value))) is not None:
            out.append(f"{path}: {why}; the default {json.dumps(SETTINGS[key].default)} is used")
    return out


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
    """The effective value of a known key and where it came from: rig, town or default. An
    invalid value in a file is skipped (and reported by `problems`), never handed on."""
    setting = check_key(key, rig=False)
    for cfg, source in ((rig_cfg if setting.rig else None, "rig"), (town_cfg, "town")):
        if cfg is None:
            continue
        value = _duration(key, get_dotted(cfg, key))
        if value is not None and problem(key, value) is None:
            return value, source
    return setting.default, "default"


_KINDS: dict[type, tuple[type, ...]] = {str: (str,), float: (int, float), int: (int,), bool: (bool,),
                                       list: (list,), dict: (dict,)}


def typed(key: str, value: Any, kind: type[K]) -> K:
    """`value` of setting `key` as `kind`. Asking for a kind the registry does not give the
    key is a programming error (TypeError), caught by tests/test_settings_typed.py for every
    literal key in the daemon, not a user error."""
    default = check_key(key, rig=False).default
    if isinstance(default, bool) != (kind is bool) or not isinstance(default, _KINDS[kind]):
        raise TypeError(f"setting {key} holds {type(default).__name__}, not {kind.__name__}")
    convert: Callable[[Any], K] = kind
    return convert(value)


_parsed: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def load_or_empty(path: Path) -> dict[str, Any]:
    """A settings file for reading effective values (callers must not change it): a file
    that does not parse counts as empty (defaults apply; `problems` reports it on every
    command). Parsed once per version of the file (mtime, size, inode): hot paths such as
    `bead.show` read settings on every call."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _parsed.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        data = load(path)
    except RpcError:
        data = {}
    _parsed[path] = (stamp, data)
    return data
