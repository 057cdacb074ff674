"""Escalations that resolve themselves once their cause is gone.

An escalation about a bead is only worth a human's attention while the bead is still in
the state that raised it: a failed bead that was reopened or retried, a held bead that was
released, anything about a bead that closed since. Each patrol pass resolves those
(acknowledged by `system`, the escalation bead closed, an `escalation_resolved` event
saying why) so the list a human reads is the list of things still wrong.
"""

from __future__ import annotations

from typing import Any

from gastown.daemon.store import holds

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
    for row in store.escalations_about_beads():
        about = store.bead_row(row["about"]) if store.bead_exists(row["about"]) else None
        reason = why_gone(row["category"], about, bool(about) and holds.is_held(store, row["about"]))
        if reason is not None and store.escalation_resolve(row["id"], reason, about=row["about"]):
            done.append(row["id"])
    return done
