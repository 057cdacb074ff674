"""Archival of finished beads, and the membership of staged convoys.

An archived bead keeps all its rows (events, dependencies, merge requests); only
`beads.archived_at` is set, so it leaves the board, `bead.list` and the status counts, and
`bead.list archived=True` (`gt bead list --archived`) still finds it. Only closed or failed
beads are archived; `bead.unarchive` is the way back (a reopened bead must be unarchived to
show again). `archive.after_days` archives closed beads automatically in the periodic sweep.

A staged convoy has not started dispatching, so its members may still change: `convoy_add`
tracks more open issues, `convoy_remove` lets members go (they become ordinary beads).
Each is one transaction of the town store and writes an event per bead it changes; repeating
a call changes nothing more (idempotent).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gastown.daemon.store.beads import bead_row, resolve
from gastown.daemon.store.convoys import convoy_get
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.links import link
from gastown.daemon.store.statuses import recount_convoy, recount_convoys
from gastown.model import BeadStatus, DepType, EventType
from gastown.protocol import ErrorCode, RpcError

SWEEP_BATCH = 2000
"""Most beads one automatic sweep archives (one transaction); the next sweep takes more."""


def archive(db: Db, keys: list[str], *, actor: str | None) -> list[Row]:
    """Archive closed or failed beads: all or none (a live bead in the list fails the call)."""
    if not keys:
        raise RpcError(ErrorCode.INVALID_PARAMS, "name at least one bead to archive")
    with db.conn:
        rows = [bead_row(db, resolve(db, k)) for k in keys]
        live = [r["id"] for r in rows if not BeadStatus(r["status"]).terminal]
        if live:
            raise RpcError(ErrorCode.INVALID_STATE, f"only closed or failed beads are archived; "
                           f"{', '.join(live)} {'is' if len(live) == 1 else 'are'} still live (close first)")
        now = db.now()
        for r in rows:
            if r.get("archived_at"):
                continue
            db.conn.execute("UPDATE beads SET archived_at = ? WHERE id = ?", (now, r["id"]))
            db.event(r["id"], EventType.ARCHIVED, actor=actor)
    return [bead_row(db, r["id"]) for r in rows]


def unarchive(db: Db, keys: list[str], *, actor: str | None) -> list[Row]:
    if not keys:
        raise RpcError(ErrorCode.INVALID_PARAMS, "name at least one bead to unarchive")
    with db.conn:
        rows = [bead_row(db, resolve(db, k)) for k in keys]
        for r in rows:
            if r.get("archived_at"):
                db.conn.execute("UPDATE beads SET archived_at = NULL WHERE id = ?", (r["id"],))
                db.event(r["id"], EventType.UNARCHIVED, actor=actor)
    return [bead_row(db, r["id"]) for r in rows]


def sweep(db: Db, after_days: float, now: datetime | None = None) -> list[str]:
    """Archive beads closed more than `after_days` ago (0 or less: never). Agents' own beads
    and open convoys' members are left alone; a batch at a time."""
    if after_days <= 0:
        return []
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=after_days)
    stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids = [r[0] for r in db.conn.execute(
        "SELECT id FROM beads WHERE archived_at IS NULL AND status = 'closed' AND type != 'agent' "
        "AND closed_at IS NOT NULL AND closed_at < ? ORDER BY closed_at LIMIT ?", (stamp, SWEEP_BATCH))]
    if ids:
        archive(db, ids, actor="system")
    return ids


# --------------------------------------------------------- staged convoys
def _staged(db: Db, key: str) -> Row:
    convoy = convoy_get(db, key)
    if not convoy["staged"] or BeadStatus(convoy["status"]).terminal:
        raise RpcError(ErrorCode.INVALID_STATE, f"convoy {convoy['id']} is not staged: its members are fixed once "
                       "it started (close members one by one with 'gt bead close')")
    return convoy


def convoy_add(db: Db, key: str, beads: list[str], *, actor: str | None) -> Row:
    """Track open, unassigned issues in a staged convoy (they dispatch when it starts)."""
    if not beads:
        raise RpcError(ErrorCode.INVALID_PARAMS, "name at least one bead to add")
    with db.conn:
        convoy = _staged(db, key)
        members = {m["id"] for m in convoy["members"]}
        for k in beads:
            bead = bead_row(db, resolve(db, k))
            if bead["id"] in members:
                continue
            other = (bead["metadata"] or {}).get("convoy")
            if other:
                raise RpcError(ErrorCode.CONFLICT, f"bead {bead['id']} is already in convoy {other}")
            if bead["type"] != "issue" or bead["status"] != BeadStatus.OPEN.value or bead["assignee"]:
                raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is a {bead['status']} {bead['type']}: "
                               "only open, unassigned issues join a convoy")
            link(db, bead["id"], convoy["id"], DepType.TRACKS, actor)
            _set_convoy(db, bead, convoy["id"])
            recount_convoys(db, bead["id"])
            db.event(convoy["id"], EventType.CONVOY_MEMBER_ADDED, actor=actor, new=bead["id"], meta={"bead": bead["id"]})
    return convoy_get(db, convoy["id"])


def convoy_remove(db: Db, key: str, beads: list[str], *, actor: str | None) -> Row:
    """Let members of a staged convoy go: they stay as ordinary beads (dependencies kept)."""
    if not beads:
        raise RpcError(ErrorCode.INVALID_PARAMS, "name at least one bead to remove")
    with db.conn:
        convoy = _staged(db, key)
        members = {m["id"] for m in convoy["members"]}
        for k in beads:
            bead = bead_row(db, resolve(db, k))
            if bead["id"] not in members:
                continue
            db.conn.execute("DELETE FROM bead_dependencies WHERE bead_id = ? AND depends_on = ? AND type = ?",
                            (bead["id"], convoy["id"], DepType.TRACKS.value))
            _set_convoy(db, bead, None)
            db.event(convoy["id"], EventType.CONVOY_MEMBER_REMOVED, actor=actor, old=bead["id"],
                     meta={"bead": bead["id"]})
        recount_convoy(db, convoy["id"])
    return convoy_get(db, convoy["id"])


def _set_convoy(db: Db, bead: Row, convoy: str | None) -> None:
    import json

    meta = {k: v for k, v in (bead["metadata"] or {}).items() if k != "convoy"}
    if convoy:
        meta["convoy"] = convoy
    db.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(meta), db.now(), bead["id"]))

