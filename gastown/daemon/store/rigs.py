"""Rigs: the repositories a town works on."""

from __future__ import annotations

from gastown.daemon.store.db import Db, Row, not_found
from gastown.model import EventType
from gastown.protocol import ErrorCode, RpcError


def rig_add(db: Db, name: str, source: str, default_branch: str, repo_path: str) -> Row:
    with db.conn:
        if db.one("SELECT name FROM rigs WHERE name = ?", (name,)):
            raise RpcError(ErrorCode.ALREADY_EXISTS, f"rig '{name}' already exists")
        db.conn.execute(
            "INSERT INTO rigs(name, source, default_branch, repo_path, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, source, default_branch, repo_path, db.now()),
        )
        db.event(None, EventType.RIG_ADDED, new=name, meta={"source": source, "branch": default_branch})
    return rig_get(db, name)


def rig_get(db: Db, name: str) -> Row:
    row = db.one("SELECT * FROM rigs WHERE name = ?", (name,))
    if row is None:
        raise not_found("rig", name)
    return row


def rig_list(db: Db) -> list[Row]:
    return list(db.rows("SELECT * FROM rigs ORDER BY name"))


def rig_remove(db: Db, name: str) -> Row:
    with db.conn:
        row = rig_get(db, name)
        busy = db.conn.execute(
            "SELECT count(*) FROM beads WHERE rig = ? AND status NOT IN ('closed', 'failed') AND type = 'issue'",
            (name,),
        ).get
        if busy:
            raise RpcError(
                ErrorCode.INVALID_STATE,
                f"rig '{name}' has {busy} unfinished bead(s): close or fail them first",
            )
        db.conn.execute("DELETE FROM rigs WHERE name = ?", (name,))
        db.event(None, EventType.RIG_REMOVED, old=name)
    return row


def rig_bead_counts(db: Db, name: str) -> dict[str, int]:
    """How many of the rig's beads are in each status."""
    return {str(s): int(n) for s, n in db.conn.execute(
        "SELECT status, count(*) FROM beads WHERE rig = ? GROUP BY status", (name,))}
