"""Dependency edges between beads (blocks, parent-child, tracks), checked for cycles.

The low-level insert every module that links beads uses (bead creation, convoys, merge
requests); the public verbs `dep_add`/`dep_remove` are in `deps`.
"""

from __future__ import annotations

from gastown.daemon.store import readiness
from gastown.daemon.store.db import Db
from gastown.model import DepType, EventType
from gastown.protocol import ErrorCode, RpcError


def link(db: Db, bead_id: str, depends_on: str, dep_type: DepType, actor: str | None) -> None:
    """Inside a transaction: one edge, refused on a self-link, a duplicate, a cycle (except
    `tracks`, which only counts convoy members) or a second parent; writes the event."""
    if bead_id == depends_on:
        raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} cannot depend on itself")
    if db.one("SELECT 1 AS x FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, depends_on)):
        raise RpcError(ErrorCode.ALREADY_EXISTS, f"{bead_id} already depends on {depends_on}")
    if dep_type != DepType.TRACKS:
        cycle = readiness.path(db.conn, depends_on, bead_id)
        if cycle:
            chain = " -> ".join([bead_id, *cycle])
            raise RpcError(ErrorCode.CONFLICT, f"dependency cycle: {chain}")
    if dep_type == DepType.PARENT_CHILD:
        if db.conn.execute("SELECT parent FROM beads WHERE id = ?", (bead_id,)).get not in (None, depends_on):
            raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} already has a parent")
        db.conn.execute("UPDATE beads SET parent = ? WHERE id = ?", (depends_on, bead_id))
    db.conn.execute(
        "INSERT INTO bead_dependencies(bead_id, depends_on, type, created_at) VALUES (?, ?, ?, ?)",
        (bead_id, depends_on, dep_type.value, db.now()),
    )
    db.event(bead_id, EventType.DEPENDENCY_ADDED, actor=actor, new=depends_on, meta={"type": dep_type.value})


def unlink(db: Db, bead_id: str, target: str, *, actor: str | None) -> None:
    """Inside a transaction: drop one edge (and the parent it set), with the event."""
    dep_type = db.conn.execute(
        "SELECT type FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, target)).get
    if dep_type is None:
        raise RpcError(ErrorCode.NOT_FOUND, f"{bead_id} does not depend on {target}")
    db.conn.execute("DELETE FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, target))
    if dep_type == DepType.PARENT_CHILD.value:
        db.conn.execute("UPDATE beads SET parent = NULL WHERE id = ?", (bead_id,))
    db.event(bead_id, EventType.DEPENDENCY_REMOVED, actor=actor, old=target, meta={"type": dep_type})
