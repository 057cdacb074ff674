"""How times and retry states read for people, in the reader's local time.

Shared by both sides (the CLI's fast path, the dashboard, the daemon's retry descriptions):
stdlib only and imported cheaply, so `gt bead show` pays nothing for it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any


def local_time(iso: str | None) -> str:
    """HH:MM:SS in local time from an ISO timestamp (the date too when it is not today)."""
    from datetime import datetime, timezone
    if not iso:
        return "?"
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    local = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone()
    today = datetime.now().astimezone().date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M:%S")


def retry_line(r: dict[str, Any]) -> str:
    """`attempt 2/5 · next try 02:08:44 · last failure: …`."""
    failure = r.get("last_failure") or {}
    when = f"next try {local_time(r.get('next_try_at'))}" if r.get("waiting") else "next try: now (waiting for a polecat)"
    msg = f"[{failure.get('code')}] {failure.get('message')}" if failure.get("code") else str(failure.get("message") or "?")
    return f"attempt {r['attempt']}/{r['max_attempts']} · {when} · last failure: {msg}"
