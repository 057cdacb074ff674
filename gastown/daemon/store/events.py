"""Reading the audit log (every write appends to it through `Db.event`)."""

from __future__ import annotations

from typing import Any

from gastown.daemon.store.beads import resolve
from gastown.daemon.store.db import Db, Row, decode_event


def events_since(db: Db, since: int, limit: int = 1000) -> list[Row]:
    return [decode_event(r) for r in db.rows(
        "SELECT * FROM bead_events WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit))]


def bead_events(db: Db, key: str) -> list[Row]:
    bead_id = resolve(db, key)
    return [decode_event(r) for r in db.rows(
        "SELECT * FROM bead_events WHERE bead_id = ? ORDER BY seq", (bead_id,))]


def counts(db: Db) -> dict[str, int]:
    return {str(s): int(n) for s, n in db.conn.execute(
        "SELECT status, count(*) FROM beads WHERE type = 'issue' AND archived_at IS NULL GROUP BY status")}


def feed(db: Db, since: str | None, after: int, limit: int) -> list[Row]:
    """Events after seq `after` and at or after time `since`; the newest `limit` of them,
    oldest first, with the bead's title (`gt feed`, the dashboard's activity panes)."""
    rows = db.rows(
        "SELECT * FROM (SELECT e.*, b.title AS title, b.type AS bead_type FROM bead_events e "
        "LEFT JOIN beads b ON b.id = e.bead_id WHERE e.seq > ? AND e.created_at >= ? "
        "ORDER BY e.seq DESC LIMIT ?) ORDER BY seq", (after, since or "", limit))
    return [decode_event(r) for r in rows]


def newest_seq(db: Db, before: str | None = None) -> int:
    """The last event's seq (of those written before the time `before`, if given)."""
    if before is None:
        return int(db.conn.execute("SELECT coalesce(max(seq), 0) FROM bead_events").get or 0)
    return int(db.conn.execute("SELECT coalesce(max(seq), 0) FROM bead_events WHERE created_at < ?",
                               (before,)).get or 0)


def troubles_since(db: Db, cursor: int) -> list[Row]:
    """Escalations raised and issues failed after `cursor` (the mayor's notices)."""
    return list(db.rows(
        "SELECT e.seq, e.bead_id, e.event_type, b.title, b.type FROM bead_events e JOIN beads b ON b.id = e.bead_id "
        "WHERE e.seq > ? AND (e.event_type IN ('escalated', 'reescalated') OR (e.new_value = 'failed' AND "
        "b.type = 'issue' AND e.event_type = 'status_changed')) ORDER BY e.seq", (cursor,)))


def outcomes_since(db: Db, cursor: int) -> list[Row]:
    """Issues failed, beads merged and convoys landed after `cursor` (desktop alerts)."""
    return list(db.rows(
        "SELECT e.seq, e.bead_id, e.event_type, e.new_value, e.metadata, b.title, b.type FROM bead_events e "
        "JOIN beads b ON b.id = e.bead_id WHERE e.seq > ? AND ((e.event_type = 'status_changed' "
        "AND e.new_value = 'failed' AND b.type = 'issue') OR e.event_type IN ('merged', 'convoy_landed')) "
        "ORDER BY e.seq", (cursor,)))


def town_event(db: Db, event_type: str, *, actor: str | None, new: str | None = None,
               meta: dict[str, Any] | None = None) -> int:
    """A town-wide entry in the audit log (no bead): a rig synced, say."""
    with db.conn:
        seq = db.event(None, event_type, actor=actor, new=new, meta=meta)
    return seq
