"""Escalations: a bead and a row saying how severe; every escalation is routed by mail when
it is raised and again when the patrol raises it a level (`_route`, called explicitly by
both): to the mayor, and from `high` on to the human."""

from __future__ import annotations

from gastown.daemon.store.beads import bead_create, bead_get, bead_row
from gastown.daemon.store.comms import mail_send
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.state import patrol_get, patrol_set
from gastown.daemon.store.statuses import set_status
from gastown.model import BeadStatus, BeadType, EventType, Severity
from gastown.protocol import ErrorCode, RpcError

SEVERITIES = [s.value for s in Severity]


def escalation_create(db: Db, message: str, *, severity: str, source: str | None,
                      bead_id: str | None = None, category: str | None = None) -> Row:
    """An escalation bead, routed to the mayor's mailbox, and from `high` on to the human's."""
    if severity not in SEVERITIES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"severity must be one of {', '.join(SEVERITIES)}")
    with db.conn:
        esc = bead_create(db, message[:500], type=BeadType.ESCALATION.value, body=message, created_by=source,
                          metadata={"source": source, **({"bead": bead_id} if bead_id else {})})
        db.conn.execute("INSERT INTO escalations(bead_id, severity, category) VALUES (?, ?, ?)",
                        (esc["id"], severity, category))
        db.event(esc["id"], EventType.ESCALATED, actor=source, new=severity, meta={"bead": bead_id})
        _route(db, esc["id"], severity, message)
    return escalation_get(db, esc["id"])


def _route(db: Db, esc_id: str, severity: str, message: str) -> None:
    boxes = ["mayor"] + (["human"] if SEVERITIES.index(severity) >= SEVERITIES.index("high") else [])
    for box in boxes:
        mail_send(db, box, f"[{severity}] escalation {esc_id}", message, sender="system", thread=esc_id)
    db.conn.execute("UPDATE escalations SET last_routed_at = ? WHERE bead_id = ?", (db.now(), esc_id))


def escalation_get(db: Db, key: str) -> Row:
    bead = bead_get(db, key)
    row = db.one("SELECT * FROM escalations WHERE bead_id = ?", (bead["id"],))
    if row is None:
        raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not an escalation")
    return {**bead, **row, "id": bead["id"]}


def escalation_list(db: Db, *, all_: bool = False) -> list[Row]:
    sql = "SELECT bead_id FROM escalations" + ("" if all_ else " WHERE acknowledged = 0") + " ORDER BY rowid"
    return [escalation_get(db, r[0]) for r in db.conn.execute(sql)]


def _acknowledge(db: Db, esc_id: str, actor: str | None, reason: str) -> None:
    db.conn.execute("UPDATE escalations SET acknowledged = 1, acknowledged_at = ?, acknowledged_by = ? "
                    "WHERE bead_id = ?", (db.now(), actor, esc_id))
    set_status(db, bead_row(db, esc_id), BeadStatus.CLOSED, actor=actor, reason=reason)


def escalation_ack(db: Db, key: str, *, actor: str | None) -> Row:
    with db.conn:
        esc = escalation_get(db, key)
        if not esc["acknowledged"]:
            _acknowledge(db, esc["id"], actor, "acknowledged")
    return escalation_get(db, esc["id"])


def escalations_about_beads(db: Db) -> list[Row]:
    """Unacknowledged escalations that name a bead: `id`, `category` and `about` (the bead)."""
    return list(db.rows(
        "SELECT e.bead_id AS id, e.category, json_extract(b.metadata, '$.bead') AS about FROM escalations e "
        "JOIN beads b ON b.id = e.bead_id WHERE e.acknowledged = 0 AND json_extract(b.metadata, '$.bead') IS NOT NULL"))


def escalation_resolve(db: Db, esc_id: str, reason: str, *, about: str | None) -> bool:
    """The trouble went away on its own (the bead it named moved on): acknowledged by the
    system, closed, with the `escalation_resolved` event. False if it was acknowledged already."""
    with db.conn:
        if escalation_get(db, esc_id)["acknowledged"]:
            return False
        _acknowledge(db, esc_id, "system", f"resolved: {reason}")
        db.event(esc_id, EventType.ESCALATION_RESOLVED, actor="system", new=reason, meta={"bead": about})
    return True


def reescalate(db: Db, esc_id: str) -> Row:
    """One level up (at most critical), routed again; the count is stored."""
    with db.conn:
        esc = escalation_get(db, esc_id)
        new = SEVERITIES[min(SEVERITIES.index(esc["severity"]) + 1, len(SEVERITIES) - 1)]
        db.conn.execute("UPDATE escalations SET severity = ?, reescalation_count = reescalation_count + 1 "
                        "WHERE bead_id = ?", (new, esc_id))
        db.event(esc_id, EventType.REESCALATED, actor="patrol", old=esc["severity"], new=new)
        _route(db, esc_id, new, f"(unacknowledged, raised to {new}) {esc['body']}")
    return escalation_get(db, esc_id)


def escalations_to_notify(db: Db) -> list[Row]:
    """High/critical escalation events not yet announced to the human (cursor in patrol_state)."""
    cursor = int(patrol_get(db, "notify_seq") or 0)
    rows = list(db.rows(
        "SELECT seq, bead_id FROM bead_events WHERE seq > ? AND event_type IN ('escalated', 'reescalated') "
        "AND new_value IN ('high', 'critical') ORDER BY seq", (cursor,)))
    out = [escalation_get(db, r["bead_id"]) for r in rows]
    if rows:
        patrol_set(db, "notify_seq", rows[-1]["seq"])
    return out
