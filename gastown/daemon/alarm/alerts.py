"""Telling the human when something needs them or is done, through the escalation path's
channels (a desktop notification where one can be shown, and `notify.command`).

`notify.level` says how much: `off`; `needs_me` (default): a bead that failed for good;
`all`: also a bead that landed and a convoy that landed. A cursor in `patrol_state`
(`alerts_seq`) makes every event announced at most once; the first look covers only the
last minute, so turning notifications on never replays history.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gastown.daemon.store import iso
from gastown.model import EventType

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.alerts")
CURSOR = "alerts_seq"
FRESH_S = 60
LEVELS = ("off", "needs_me", "all")


def pending(store: Any, level: str) -> list[dict[str, Any]]:
    """The alerts due since the cursor (a store transaction on the town's thread)."""
    cursor = store.patrol_get(CURSOR)
    last = store.newest_seq()
    if level == "off":
        store.patrol_set(CURSOR, last)
        return []
    if cursor is None:  # first look: the last minute only, never older history
        since = iso(store.clock() - timedelta(seconds=FRESH_S))
        cursor = store.newest_seq(before=since)
    rows = store.outcomes_since(int(cursor))
    store.patrol_set(CURSOR, last)
    out = []
    for r in rows:
        if r["event_type"] == EventType.STATUS_CHANGED:
            out.append({"kind": "needs_me", "event": "bead_failed", "id": r["bead_id"],
                        "title": f"{r['bead_id']} failed: {r['title']}", "message": _reason(r["metadata"])})
        elif level == "all" and r["event_type"] == EventType.MERGED:
            out.append({"kind": "done", "event": "bead_landed", "id": r["bead_id"],
                        "title": f"{r['bead_id']} landed: {r['title']}", "message": f"at {str(r['new_value'])[:12]}"})
        elif level == "all" and r["event_type"] == EventType.CONVOY_LANDED:
            out.append({"kind": "done", "event": "convoy_landed", "id": r["bead_id"],
                        "title": f"convoy {r['bead_id']} landed: {r['title']}", "message": r["title"]})
    return out


def _reason(meta: Any) -> str:
    import json

    try:
        data = json.loads(meta) if isinstance(meta, str) else meta or {}
    except ValueError:
        return ""
    return str(data.get("reason") or (data.get("failure_reason") or {}).get("message") or "")


def send(town: "Town", alerts: list[dict[str, Any]]) -> None:
    """Desktop notification (notify-send, when a display is there) and notify.command, with
    the alert in its environment: GT_NOTIFY_KIND (needs_me/done), GT_EVENT, GT_BEAD_ID,
    GT_TITLE, GT_MESSAGE."""
    command = town.text("notify.command")
    sender = shutil.which("notify-send")
    for a in alerts:
        title = f"gastown {town.name}: {a['title']}"
        if sender and (os.environ.get("DISPLAY") or os.environ.get("DBUS_SESSION_BUS_ADDRESS")):
            subprocess.run([sender, title, a["message"] or a["title"]], capture_output=True, timeout=10)
        if command:
            env = {**os.environ, "GT_TOWN": town.name, "GT_NOTIFY_KIND": a["kind"], "GT_EVENT": a["event"],
                   "GT_BEAD_ID": a["id"], "GT_TITLE": a["title"], "GT_MESSAGE": a["message"] or a["title"]}
            try:
                subprocess.run(command, shell=True, env=env, capture_output=True, timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("notify.command timed out for %s", a["id"])
