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
_cache: dict[str, tuple[tuple[Any, ...], "Served"]] = {}
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


def read_output(turn_dir: Path | str, limit: int = OUTPUT_LIMIT) -> str:
    """The last `limit` bytes of a turn's raw output ('' when it has none yet)."""
    path = Path(turn_dir) / runner.OUTPUT
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(0, size - limit))
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


class Served:
    """A turn's events as the wire carries them (dicts) with each one's encoded size, so
    paging never re-encodes; cached per turn by the file it came from and that file's size."""

    def __init__(self, dicts: list[dict[str, Any]], sizes: list[int]) -> None:
        self.dicts, self.sizes = dicts, sizes

    def events(self) -> list[tr.Event]:
        return tr.from_dicts(self.dicts)


def served(turn_dir: Path, adapter_name: str) -> Served:
    """The stored transcript, else the output so far parsed (cached: a follower polling a
    running turn parses only when the output grew, a finished turn is read once)."""
    stored = turn_dir / tr.TRANSCRIPT_FILE
    try:
        st = stored.stat()
        key: tuple[Any, ...] = ("stored", st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        try:
            out = (turn_dir / runner.OUTPUT).stat()
        except FileNotFoundError:
            return Served([], [])
        key = ("output", out.st_size, out.st_mtime_ns)
    with _cache_lock:
        hit = _cache.get(str(turn_dir))
    if hit is not None and hit[0] == key:
        return hit[1]
    if key[0] == "stored":
        lines = [ln for ln in stored.read_text().splitlines() if ln.strip()]
        result = Served([json.loads(ln) for ln in lines], [len(ln.encode()) + 1 for ln in lines])
    else:
        try:
            events = adapters.get(adapter_name).transcript(read_output(turn_dir))
        except Exception as exc:
            events = [tr.error(f"gastown could not read this turn's output: {type(exc).__name__}: {exc}")]
        dicts = tr.as_dicts(events)
        result = Served(dicts, [len(json.dumps(d, ensure_ascii=False).encode()) + 1 for d in dicts])
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[str(turn_dir)] = (key, result)
    return result


def events_of(turn_dir: Path, adapter_name: str) -> list[tr.Event]:
    return served(turn_dir, adapter_name).events()


def turn_dirs(root: Path, agent: str | None = None) -> list[Path]:
    """Every turn directory of the town (or of one agent), oldest first per agent."""
    base = root / "turns"
    agents = [base / agent] if agent else sorted(p for p in base.glob("*") if p.is_dir())
    return [d for a in agents for d in sorted(a.glob("[0-9]*")) if d.is_dir()]


def summary(turn_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A turn's header: who, when, how it ended, its tokens."""
    info = turn_info(turn_dir)
    status = runner.read_status(turn_dir) or {}
    end_d = next((e for e in reversed(events) if e.get("kind") == tr.Kind.END.value), None)
    end = tr.Event.from_dict(end_d) if end_d else None
    t_in, t_out = (end.tokens_in, end.tokens_out) if end and (end.tokens_in or end.tokens_out) else tr.tokens(
        tr.Event(tr.Kind.USAGE.value, tokens_in=e.get("tokens_in", 0), tokens_out=e.get("tokens_out", 0))
        for e in events if e.get("kind") == tr.Kind.USAGE.value)
    return {"turn_dir": str(turn_dir), "turn": turn_dir.name, "agent": info.get("agent") or turn_dir.parent.name,
            "adapter": info.get("adapter"), "bead": info.get("bead"), "title": info.get("title"),
            "started_at": status.get("started_at") or info.get("started_at"), "ended_at": status.get("ended_at"),
            "running": end is None and runner.is_running(turn_dir),
            "exit_code": end.exit if end else status.get("exit_code"), "reason": end.reason if end else None,
            "tokens_in": t_in, "tokens_out": t_out}
