"""Mail and nudges.

Mail is durable (a `message` bead per recipient); nudges are ephemeral rows with a TTL.
Both are delivered at an agent's next turn boundary (prepended to its prompt) and marked
delivered only when that turn has started: acknowledged, structured delivery, never
keystrokes typed into a screen.
"""

from __future__ import annotations

import json
from datetime import timedelta

from gastown.daemon.store.agents import agent_exists, agent_row
from gastown.daemon.store.beads import bead_create, bead_get, bead_row, resolve
from gastown.daemon.store.db import Db, Row, iso
from gastown.daemon.store.statuses import set_status
from gastown.model import BeadStatus, BeadType, EventType
from gastown.protocol import ErrorCode, RpcError

NUDGE_MODES = ("immediate", "wait-idle", "queue")


def resolve_recipients(db: Db, to: str) -> list[str]:
    """An agent name, a role, `rig/role`, `mayor` or `human` -> mailbox names."""
    to = to.strip()
    if to in ("human", "mayor"):
        return [to]
    if agent_exists(db, to):
        return [to]
    rig, _, role = to.rpartition("/")
    rows = [r[0] for r in db.conn.execute(
        "SELECT name FROM agents WHERE role = ? AND (? = '' OR rig = ?) ORDER BY name", (role, rig, rig))]
    if rows:
        return rows
    raise RpcError(ErrorCode.NOT_FOUND, f"no mailbox '{to}' (an agent, a role, rig/role, mayor or human)")


def mail_send(db: Db, to: str, subject: str, body: str, *, sender: str, thread: str | None = None) -> list[Row]:
    with db.conn:
        sent = []
        for box in resolve_recipients(db, to):
            msg = bead_create(db, subject or "(no subject)", type=BeadType.MESSAGE.value, body=body,
                              created_by=sender, requested_by=sender,
                              metadata={"from": sender, "to": box, "addressed_to": to,
                                        **({"thread": thread} if thread else {})})
            db.conn.execute("UPDATE beads SET assignee = ? WHERE id = ?", (box, msg["id"]))
            db.event(msg["id"], EventType.MAIL_SENT, actor=sender, new=box)
            sent.append(bead_row(db, msg["id"]))
    return sent


def mail_inbox(db: Db, box: str, *, unread: bool = False) -> list[Row]:
    sql = f"SELECT id FROM beads WHERE type = 'message' AND assignee = ?{' AND status = ?' if unread else ''} " \
          "ORDER BY created_at"
    return [bead_row(db, r[0]) for r in db.conn.execute(sql, (box, "open") if unread else (box,))]


def mail_read(db: Db, key: str, *, reader: str) -> Row:
    """Reading marks a message read (closed); the first read also marks it delivered."""
    with db.conn:
        msg = bead_row(db, resolve(db, key))
        if msg["type"] != BeadType.MESSAGE.value:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{msg['id']} is not a message")
        if msg["status"] == BeadStatus.OPEN.value:
            _mark_delivered(db, msg)
            set_status(db, msg, BeadStatus.CLOSED, actor=reader, reason="read")
    return bead_get(db, msg["id"])


def _mark_delivered(db: Db, msg: Row) -> None:
    if not msg["metadata"].get("delivered_at"):
        meta = {**msg["metadata"], "delivered_at": db.now()}
        db.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?", (json.dumps(meta), msg["id"]))
        db.event(msg["id"], EventType.MAIL_DELIVERED, actor="system", new=msg["assignee"])


def nudge(db: Db, agent: str, message: str, *, mode: str = "wait-idle", source: str | None = None,
          ttl_minutes: float = 30.0) -> Row:
    if mode not in NUDGE_MODES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"mode must be one of {', '.join(NUDGE_MODES)}")
    with db.conn:
        target = agent_row(db, agent)
        now = db.clock()
        db.conn.execute(
            "INSERT INTO agent_nudges(agent, message, mode, source, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (agent, message, mode, source, iso(now), iso(now + timedelta(minutes=ttl_minutes))))
        nudge_id = db.conn.last_insert_rowid()
        db.event(target["bead_id"], EventType.NUDGED, actor=source, new=mode, meta={"nudge": nudge_id, "agent": agent})
    return {"id": nudge_id, "status": "queued", "agent": agent, "mode": mode, "message": message}


def nudge_get(db: Db, nudge_id: int) -> Row | None:
    return db.one("SELECT * FROM agent_nudges WHERE nudge_id = ?", (nudge_id,))


def pending_nudges(db: Db, agent: str | None = None) -> list[Row]:
    now = db.now()
    sql = ("SELECT * FROM agent_nudges WHERE delivered_at IS NULL AND expired_at IS NULL AND expires_at > ?"
           + (" AND agent = ?" if agent else "") + " ORDER BY nudge_id")
    return list(db.rows(sql, (now, agent) if agent else (now,)))


def expire_nudges(db: Db) -> int:
    with db.conn:
        now = db.now()
        db.conn.execute("UPDATE agent_nudges SET expired_at = ? WHERE delivered_at IS NULL AND expired_at IS NULL "
                        "AND expires_at <= ?", (now, now))
        changed = db.conn.changes()
    return changed


def deliverables(db: Db, agent: str) -> tuple[list[Row], list[Row]]:
    """Undelivered mail and live nudges for an agent's next turn."""
    mail = [m for m in mail_inbox(db, agent, unread=True) if not m["metadata"].get("delivered_at")]
    return mail, pending_nudges(db, agent)


def mark_delivered(db: Db, agent: str, mail_ids: list[str], nudge_ids: list[int]) -> None:
    """Called in the same breath as turn_started: delivered means the turn really began."""
    with db.conn:
        for mail_id in mail_ids:
            _mark_delivered(db, bead_row(db, mail_id))
        now = db.now()
        for nudge_id in nudge_ids:
            db.conn.execute("UPDATE agent_nudges SET delivered_at = ? WHERE nudge_id = ?", (now, nudge_id))
