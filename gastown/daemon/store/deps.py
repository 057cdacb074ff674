"""The dependency verbs and the ready rule's listings."""

from __future__ import annotations

from gastown.daemon.store import readiness
from gastown.daemon.store.beads import bead_get, bead_row, resolve
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.links import link, unlink
from gastown.model import DepType


def dep_add(db: Db, key: str, depends_on: str, *, type: str = "blocks", actor: str | None = None) -> Row:
    with db.conn:
        link(db, resolve(db, key), resolve(db, depends_on), DepType(type), actor)
    return bead_get(db, key)


def dep_remove(db: Db, key: str, depends_on: str, *, actor: str | None = None) -> Row:
    with db.conn:
        bead_id, target = resolve(db, key), resolve(db, depends_on)
        unlink(db, bead_id, target, actor=actor)
    return bead_get(db, bead_id)


def ready(db: Db, *, rig: str | None = None, limit: int = 100) -> list[Row]:
    return [bead_row(db, i) for i in readiness.ready_ids(db.conn, rig=rig, limit=limit)]


def ready_explain(db: Db, *, rig: str | None = None, limit: int = 100) -> list[Row]:
    out = []
    for bead_id, reasons in readiness.blocked(db.conn, rig=rig, limit=limit):
        row = bead_row(db, bead_id)
        row["blocked_by"] = reasons
        out.append(row)
    return out


def convoy_predecessors(db: Db, bead: Row) -> tuple[str, ...]:
    """Closed blockers of a convoy member that belong to the same convoy."""
    convoy = bead["metadata"].get("convoy")
    if not convoy:
        return ()
    return tuple(str(r[0]) for r in db.conn.execute(
        "SELECT d.depends_on FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on "
        "WHERE d.bead_id = ? AND d.type = 'blocks' AND json_extract(t.metadata, '$.convoy') = ?",
        (bead["id"], convoy)))
