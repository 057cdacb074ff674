"""Turn transcripts on the daemon side: building, storing and finding them.

A turn directory (``<town>/turns/<agent>/<NNNN>``) holds the raw PTY output
(``output.log``), the runner's ``status.json``, ``turn.json`` (who ran it on which bead,
written at launch) and, once the turn is over, ``transcript.jsonl`` (the adapter's events
plus an ``end`` event). While a turn runs its transcript is parsed from the output so far,
cached by the output's size so a follower polling every half second parses only on growth.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gastown import runner
from gastown import transcript as tr
from gastown.daemon import adapters

TURN_FILE = "turn.json"
OUTPUT_LIMIT = 16 << 20  # bytes of output parsed at most (the tail: a runaway turn stays readable)
_cache: dict[str, tuple[int, list[tr.Event]]] = {}
_cache_lock = threading.Lock()
CACHE_MAX = 64


def write_turn_info(turn_dir: Path, *, agent: str, adapter: str, role: str, bead: str, title: str) -> None:
    """Who ran this turn on what: what `bead.log` finds turns by."""
    info = {"agent": agent, "adapter": adapter, "role": role, "bead": bead, "title": title,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}
    (turn_dir / TURN_FILE).write_text(json.dumps(info))


def turn_info(turn_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((turn_dir / TURN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_output(turn_dir: Path) -> str:
    path = turn_dir / runner.OUTPUT
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(0, size - OUTPUT_LIMIT))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def reason_of(status: dict[str, Any]) -> str:
    """Why the turn ended, in the words the failure codes use."""
    if status.get("lost"):
        return "runner_lost"
    if status.get("stopped"):
        return "stopped"
    if status.get("timed_out"):
        return "timed_out"
    if status.get("signal"):
        return "agent_killed"
    return "exited"


def build(adapter_name: str, output: str, status: dict[str, Any], tokens: tuple[int, int]) -> list[tr.Event]:
    """The finished turn's events: the adapter's parse plus the `end` event."""
    try:
        events = adapters.get(adapter_name).transcript(output)
    except Exception as exc:  # a parser bug must not lose the turn's end
        events = [tr.error(f"gastown could not read this turn's output: {type(exc).__name__}: {exc}")]
    events.append(tr.end(status.get("exit_code"), reason_of(status), *tokens))
    return events


def store(turn_dir: Path, events: list[tr.Event]) -> None:
    tr.dump(events, turn_dir / tr.TRANSCRIPT_FILE)
    with _cache_lock:
        _cache.pop(str(turn_dir), None)


def events_of(turn_dir: Path, adapter_name: str) -> list[tr.Event]:
    """The stored transcript, else the output so far parsed (cached by output size)."""
    stored = tr.load(turn_dir / tr.TRANSCRIPT_FILE)
    if stored is not None:
        return stored
    try:
        size = (turn_dir / runner.OUTPUT).stat().st_size
    except FileNotFoundError:
        return []
    key = str(turn_dir)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == size:
        return hit[1]
    try:
        events = adapters.get(adapter_name).transcript(read_output(turn_dir))
    except Exception as exc:
        events = [tr.error(f"gastown could not read this turn's output: {type(exc).__name__}: {exc}")]
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (size, events)
    return events


def turn_dirs(root: Path, agent: str | None = None) -> list[Path]:
    """Every turn directory of the town (or of one agent), oldest first per agent."""
    base = root / "turns"
    agents = [base / agent] if agent else sorted(p for p in base.glob("*") if p.is_dir())
    return [d for a in agents for d in sorted(a.glob("[0-9]*")) if d.is_dir()]


def summary(turn_dir: Path, events: list[tr.Event]) -> dict[str, Any]:
    """A turn's header: who, when, how it ended, its tokens."""
    info = turn_info(turn_dir)
    status = runner.read_status(turn_dir) or {}
    end = next((e for e in reversed(events) if e.kind == tr.Kind.END.value), None)
    t_in, t_out = tr.tokens(events)
    return {"turn_dir": str(turn_dir), "turn": turn_dir.name, "agent": info.get("agent") or turn_dir.parent.name,
            "adapter": info.get("adapter"), "bead": info.get("bead"), "title": info.get("title"),
            "started_at": status.get("started_at") or info.get("started_at"), "ended_at": status.get("ended_at"),
            "running": end is None and runner.is_running(turn_dir),
            "exit_code": end.exit if end else status.get("exit_code"), "reason": end.reason if end else None,
            "tokens_in": t_in, "tokens_out": t_out}
