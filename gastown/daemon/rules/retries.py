"""Where a bead stands between dispatch attempts, for people: "attempt 2/5 · next try at …
· last failure: …". Pure, with the clock passed in; the ladder is the reconciler's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from gastown.daemon.rules.reconciler import BACKOFF_S


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def retry_state(bead: dict[str, Any], *, max_attempts: int, scale: float, now: datetime) -> dict[str, Any] | None:
    """For an open issue that failed at least one dispatch attempt: the attempt it waits
    for, when that can start, and the failure that sent it back. None otherwise."""
    attempts = int(bead.get("dispatch_attempts") or 0)
    failure = bead.get("failure_reason")
    if bead.get("status") != "open" or bead.get("type", "issue") != "issue" or attempts < 1 or not failure:
        return None
    last = parse_time(bead.get("last_dispatch_at"))
    wait = BACKOFF_S[min(attempts, len(BACKOFF_S) - 1)] * scale
    next_at = last + timedelta(seconds=wait) if last else None
    return {"attempt": attempts + 1, "max_attempts": max_attempts,
            "next_try_at": iso(next_at) if next_at else None,
            "waiting": bool(next_at and next_at > now),
            "last_failure": {"code": failure.get("code"), "message": failure.get("message")}}


def annotate(bead: dict[str, Any], config: Any, now: datetime | None = None) -> dict[str, Any]:
    """`bead["retry"]` from the bead's rig settings (`config(key, rig) -> (value, source)`)."""
    rig = bead.get("rig")
    try:
        state = retry_state(bead, max_attempts=int(config("dispatch.max_attempts", rig)[0]),
                            scale=float(config("dispatch.backoff_scale", rig)[0]),
                            now=now or datetime.now(timezone.utc))
    except (KeyError, ValueError, TypeError):
        state = None
    if state:
        bead["retry"] = state
    return bead


def describe(state: dict[str, Any]) -> str:
    """One line for people (times in the daemon's local time)."""
    from gastown.timetext import retry_line  # stdlib-only, shared with the CLI and the dashboard
    return retry_line(state)
