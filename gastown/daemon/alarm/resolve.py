"""Escalations that resolve themselves once their cause is gone.

An escalation about a bead is only worth a human's attention while the bead is still in
the state that raised it: a failed bead that was reopened or retried, a held bead that was
released, anything about a bead that closed since. Each patrol pass resolves those
(acknowledged by `system`, the escalation bead closed, an `escalation_resolved` event
saying why) so the list a human reads is the list of things still wrong.
"""

from __future__ import annotations

from typing import Any

from gastown.daemon import holds
from gastown.model import BeadStatus, EventType

FAILURE_CATEGORIES = frozenset({"merge", "dispatch"})
HOLD_CATEGORIES = frozenset({"agent_escalated"})


def why_gone(category: str | None, bead: dict[str, Any] | None, held: bool) -> str | None:
    """The reason an escalation's cause is gone, or None while it stands (pure)."""
    if bead is None:
        return None
    if bead["status"] == "closed":
        return f"bead {bead['id']} is closed"
    if category in FAILURE_CATEGORIES and bead["status"] != "failed":
        return f"bead {bead['id']} is no longer failed ({bead['status']})"
    if category in HOLD_CATEGORIES and not held:
        return f"bead {bead['id']} was released"
    return None


def resolve_stale(store: Any) -> list[str]:
    """Resolve every open escalation whose cause is gone; returns their ids."""
    done: list[str] = []
    rows = list(store._rows(
        "SELECT e.bead_id AS id, e.category, json_extract(b.metadata, '$.bead') AS about FROM escalations e "
        "JOIN beads b ON b.id = e.bead_id WHERE e.acknowledged = 0 AND json_extract(b.metadata, '$.bead') IS NOT NULL"))
    for row in rows:
        about = store._one("SELECT id, status FROM beads WHERE id = ?", (row["about"],))
        reason = why_gone(row["category"], about, bool(about) and holds.is_held(store, row["about"]))
        if reason is None:
            continue
        with store.conn:
            store.conn.execute("UPDATE escalations SET acknowledged = 1, acknowledged_at = ?, acknowledged_by = "
                               "'system' WHERE bead_id = ? AND acknowledged = 0", (store.now(), row["id"]))
            store._set_status(store.bead_row(row["id"]), BeadStatus.CLOSED, actor="system", reason=f"resolved: {reason}")
            store._event(row["id"], EventType.ESCALATION_RESOLVED, actor="system", new=reason, meta={"bead": row["about"]})
        done.append(row["id"])
    return done
