"""Town activity for people: one line per event (`gt feed`, the dashboard's activity pane).

Stdlib only. The daemon serves raw events (`town.feed`); :func:`line` says each in words,
:func:`parse_since` reads `--since` (a duration such as `90s`, `15m`, `1h`, `2d`, or a
time: `14:30`, `2026-11-30T14:30`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from gastown.model import EventType

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration back from now, or a time (today's, when only HH:MM[:SS]); ValueError else."""
    now = now or datetime.now(timezone.utc)
    raw = text.strip()
    m = _DURATION.match(raw)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", raw):
        local = now.astimezone()
        parts = [int(p) for p in raw.split(":")] + [0]
        t = local.replace(hour=parts[0], minute=parts[1], second=parts[2], microsecond=0)
        return (t - timedelta(days=1) if t > local else t).astimezone(timezone.utc)
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes a duration (90s, 15m, 1h, 2d) or a time (14:30, 2026-11-30T14:30), "
                         f"not '{text}'") from None
    return (t if t.tzinfo else t.astimezone()).astimezone(timezone.utc)


def iso(t: datetime) -> str:
    """The store's timestamp format, so times compare as strings."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clock(at: str | None) -> str:
    """HH:MM:SS local."""
    if not at:
        return "--:--:--"
    try:
        t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at[:8]
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone().strftime("%H:%M:%S")


def _q(s: Any, n: int = 70) -> str:
    text = " ".join(str(s or "").split())
    return f"“{text if len(text) <= n else text[:n - 1] + '…'}”"


def _failure(meta: dict[str, Any]) -> str:
    f = meta.get("failure_reason") or meta.get("failure") or {}
    return f": {f.get('message')}" if isinstance(f, dict) and f.get("message") else ""


Say = Callable[[dict[str, Any], dict[str, Any]], str]
SAY: dict[str, Say] = {
    EventType.CREATED: lambda e, m: f"{e['actor'] or 'someone'} created {e['bead_id']} {_q(e.get('title'))}",
    EventType.STATUS_CHANGED: lambda e, m: f"{e['bead_id']} {e['old_value']} → {e['new_value']}"
                                   + (f": {m['reason']}" if m.get("reason") else _failure(m)),
    EventType.CLOSED: lambda e, m: f"{e['bead_id']} closed" + (f": {m['reason']}" if m.get("reason") else ""),
    EventType.REOPENED: lambda e, m: f"{e['bead_id']} reopened by {e['actor'] or 'someone'}",
    EventType.HOOKED: lambda e, m: f"{e['new_value']} picked up {e['bead_id']} {_q(e.get('title'))}",
    EventType.UNHOOKED: lambda e, m: f"{e['old_value']} gave back {e['bead_id']}{_failure(m)}" if _failure(m)
    else f"{e['old_value']} let go of {e['bead_id']}" + (f" ({m['reason']})" if m.get("reason") else ""),
    EventType.TURN_EXITED: lambda e, m: f"{m.get('agent')} finished a turn on {m.get('bead') or e['bead_id']} "
                                f"(exit {e['new_value']}, {m.get('tokens_in', 0):,} in / {m.get('tokens_out', 0):,} out)",
    EventType.AGENT_DONE: lambda e, m: f"{e['actor']} handed in {e['bead_id']} for merge" + (
        f": {_q(m.get('summary'))}" if m.get("summary") else ""),
    EventType.MERGED: lambda e, m: f"{e['bead_id']} landed on {m.get('landed_on')} at {str(e['new_value'])[:12]}",
    EventType.AGENT_STATUS: lambda e, m: f"{m.get('agent') or e['actor']} is {e['new_value']}"
                                 + (f" ({m.get('reason')})" if m.get("reason") else ""),
    EventType.AGENT_STATUS_MESSAGE: lambda e, m: f"{m.get('agent') or e['actor']}: {_q(e['new_value'], 100)}",
    EventType.ESCALATED: lambda e, m: f"escalation {e['bead_id']}: {_q(e.get('title'), 100)}",
    EventType.CONVOY_LANDED: lambda e, m: f"convoy {e['bead_id']} {_q(e.get('title'))} landed",
    EventType.HELD: lambda e, m: f"{e['bead_id']} held" + (f" ({m.get('reason')})" if m.get("reason") else ""),
    EventType.RELEASED: lambda e, m: f"{e['bead_id']} released",
    EventType.REWORK_REQUESTED: lambda e, m: f"{e['bead_id']} needs rework" + (f": {_q(e['new_value'], 90)}"
                                                                     if e.get("new_value") else ""),
}


def line(e: dict[str, Any]) -> str:
    """`14:02:11  toast picked up gt-abc1 “fix login”`."""
    meta = e.get("metadata") or {}
    say = SAY.get(e["event_type"])
    try:
        text = say(e, meta) if say else _generic(e)
    except (KeyError, TypeError, ValueError):
        text = _generic(e)
    return f"{clock(e.get('created_at'))}  {text}"


def _generic(e: dict[str, Any]) -> str:
    change = ""
    if e.get("old_value") or e.get("new_value"):
        change = f" {e.get('old_value') or ''} → {e.get('new_value') or ''}".replace("  ", " ")
    who = f" by {e['actor']}" if e.get("actor") else ""
    return f"{e['event_type'].replace('_', ' ')} {e.get('bead_id') or ''}{change}{who}".replace("  ", " ")
