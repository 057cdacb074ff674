"""Bead status changes: `set_status` is the one place a bead's status changes, and it writes
the event. What a status change sets off is spelled out in `_follow` (no override anywhere
else): convoy progress is recounted from its members, a convoy whose members are all
closed lands, and a molecule follows its failed or reopened step."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store import integration
from gastown.daemon.store.beads import bead_create, bead_get, bead_row, resolve
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.rigs import rig_get
from gastown.model import BeadStatus, BeadType, EventType, FailureCode, bead_transition_allowed
from gastown.protocol import ErrorCode, RpcError


def set_status(db: Db, bead: Row, new: BeadStatus | str, *, actor: str | None, reason: str | None = None,
               failure: dict[str, Any] | None = None, reopen: bool = False) -> bool:
    """The one place a bead's status changes; writes the status_changed event, then `_follow`.

    A same-status write is a no-op without an event. Moving out of closed/failed is refused
    unless this is an explicit reopen. The caller holds the transaction.
    """
    new = BeadStatus(new)
    old = BeadStatus(bead["status"])
    if old == new:
        return False
    if not bead_transition_allowed(old, new, reopen=reopen):
        hint = f" (use 'gt bead reopen {bead['id']} --reason ...')" if old.terminal else ""
        raise RpcError(ErrorCode.CONFLICT, f"bead {bead['id']} is {old.value}; cannot move it to {new.value}{hint}")
    now = db.now()
    closed_at = now if new.terminal else None
    close_reason = reason if new.terminal else None
    # A given failure is recorded whatever the new status (an open bead carries the reason
    # its last attempt failed to the next polecat); an explicit reopen clears it; otherwise
    # the stored value is left alone (never re-written from a possibly stale row).
    touch_failure = failure is not None or reopen
    db.conn.execute(
        "UPDATE beads SET status = ?, updated_at = ?, closed_at = ?, close_reason = ?, "
        "failure_reason = CASE WHEN ? THEN ? ELSE failure_reason END WHERE id = ?",
        (new.value, now, closed_at, close_reason, touch_failure, json.dumps(failure) if failure else None,
         bead["id"]),
    )
    meta: dict[str, Any] = {}
    if reason:
        meta["reason"] = reason
    if failure:
        meta["failure_reason"] = failure
    event = EventType.REOPENED if reopen else EventType.CLOSED if new == BeadStatus.CLOSED else EventType.STATUS_CHANGED
    db.event(bead["id"], event, actor=actor, old=old.value, new=new.value, meta=meta)
    bead["status"] = new.value
    _follow(db, bead["id"])
    return True


def _follow(db: Db, bead_id: str) -> None:
    """Everything a member's status change sets off, in order."""
    recount_convoys(db, bead_id)
    _land_convoys(db, bead_id)
    _follow_step(db, bead_id)


def recount_convoys(db: Db, bead_id: str) -> None:
    """Convoy progress is derived by recounting its members on every member status change:
    never bumped on a side path (cloud #962, #1823)."""
    for (convoy_id,) in list(db.conn.execute(
            "SELECT d.depends_on FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on "
            "WHERE d.bead_id = ? AND d.type = 'tracks'", (bead_id,))):
        recount_convoy(db, str(convoy_id))


def recount_convoy(db: Db, convoy_id: str) -> None:
    """One convoy's member counts, from its `tracks` edges (also after a member left it)."""
    db.conn.execute(
        "UPDATE convoys SET total_beads = (SELECT count(*) FROM bead_dependencies d WHERE d.depends_on = ?1 "
        "AND d.type = 'tracks'), closed_beads = (SELECT count(*) FROM bead_dependencies d JOIN beads b "
        "ON b.id = d.bead_id WHERE d.depends_on = ?1 AND d.type = 'tracks' AND b.status = 'closed') "
        "WHERE bead_id = ?1", (convoy_id,))


def _land_convoys(db: Db, bead_id: str) -> None:
    """A convoy whose members are all closed (merged) lands: it closes, or an integration
    convoy opens its one landing merge request and lands when that merges."""
    for (convoy_id,) in list(db.conn.execute(
            "SELECT d.depends_on FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on "
            "WHERE d.bead_id = ? AND d.type = 'tracks' AND c.total_beads > 0 "
            "AND c.total_beads = c.closed_beads AND c.landed_at IS NULL", (bead_id,))):
        convoy = bead_row(db, convoy_id)
        if BeadStatus(convoy["status"]).terminal:
            continue
        if integration.is_integration(db, convoy_id) and _open_landing(db, convoy_id):
            continue  # it lands when its landing merge request merges
        db.conn.execute("UPDATE convoys SET landed_at = ? WHERE bead_id = ?", (db.now(), convoy_id))
        set_status(db, convoy, BeadStatus.CLOSED, actor="refinery", reason="landed: every member merged")
        db.event(convoy_id, EventType.CONVOY_LANDED, actor="refinery")


def _open_landing(db: Db, convoy_id: str) -> bool:
    """Every member is in: the landing merge request (once). False when nothing was merged
    into the integration branch (the convoy then closes as usual)."""
    branch = integration.branch_of(convoy_id)
    head = db.one(
        "SELECT m.merge_commit, m.rig FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
        "WHERE m.target_branch = ? AND b.status = 'closed' AND m.merge_commit IS NOT NULL "
        "ORDER BY b.updated_at DESC, m.rowid DESC LIMIT 1", (branch,))
    if head is None:
        return False
    active = db.one("SELECT m.bead_id FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
                    "WHERE m.source_bead_id = ? AND b.status != 'failed'", (convoy_id,))
    if active:
        return True
    convoy = bead_row(db, convoy_id)
    rig = rig_get(db, head["rig"])
    mr = bead_create(db, f"land convoy {convoy_id}: {convoy['title']}"[:200], type=BeadType.MERGE_REQUEST.value,
                     rig=rig["name"], body=f"The convoy {convoy_id} ({convoy['title']}), every member merged "
                     f"into {branch}.", created_by="refinery", requested_by=convoy["requested_by"],
                     priority=convoy["priority"], metadata={"source_bead_id": convoy_id,
                                                            "head_sha": head["merge_commit"],
                                                            "convoy_landing": convoy_id})
    db.conn.execute("INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (mr["id"], convoy_id, rig["name"], branch, rig["default_branch"], head["merge_commit"]))
    # no `tracks` link to the convoy: that would make the landing merge request a member
    set_status(db, convoy, BeadStatus.IN_REVIEW, actor="refinery", reason=f"every member is in {branch}: "
               f"landing as {mr['id']}")
    db.event(convoy_id, EventType.CONVOY_LANDING, actor="refinery", new=mr["id"], meta={"head": head["merge_commit"]})
    return True


def _follow_step(db: Db, bead_id: str) -> None:
    """A failed step fails its beads-mode molecule (naming the step); reopening that step
    reopens the molecule."""
    row = db.one("SELECT status, json_extract(metadata, '$.molecule') AS mol, "
                 "json_extract(metadata, '$.step') AS step, failure_reason FROM beads WHERE id = ?", (bead_id,))
    if not row or not row["mol"]:
        return
    mol = bead_row(db, row["mol"])
    single = mol["metadata"].get("mode") == "single"
    if not single and row["status"] == BeadStatus.FAILED.value and not BeadStatus(mol["status"]).terminal:
        why = (json.loads(row["failure_reason"]) or {}).get("message", "") if row["failure_reason"] else ""
        set_status(db, mol, BeadStatus.FAILED, actor="system", reason=f"step {row['step']} failed", failure={
            "code": FailureCode.STEP_FAILED, "message": f"step {row['step']} ({bead_id}) failed" + (f": {why}" if why else ""),
            "source": "molecule", "details": {"step": row["step"], "bead": bead_id}})
    elif row["status"] == BeadStatus.OPEN.value and mol["status"] == BeadStatus.FAILED.value \
            and ((mol["failure_reason"] or {}).get("details") or {}).get("bead") == bead_id:
        set_status(db, mol, BeadStatus.OPEN, actor="system", reason=f"step {row['step']} reopened", reopen=True)


def transition(db: Db, key: str, status: str, *, actor: str | None = None, reason: str | None = None,
               failure: dict[str, Any] | None = None) -> Row:
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        set_status(db, bead, BeadStatus(status), actor=actor, reason=reason, failure=failure)
    return bead_get(db, bead["id"])


def bead_close(db: Db, key: str, *, actor: str | None = None, reason: str | None = None) -> Row:
    return transition(db, key, BeadStatus.CLOSED.value, actor=actor, reason=reason)


def bead_fail(db: Db, key: str, failure: dict[str, Any], *, actor: str | None = None) -> Row:
    return transition(db, key, BeadStatus.FAILED.value, actor=actor, reason=failure.get("message"), failure=failure)


def bead_reopen(db: Db, key: str, *, reason: str, actor: str | None = None) -> Row:
    if not reason.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, "reopen needs a reason")
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        if not BeadStatus(bead["status"]).terminal:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {bead['status']}, not closed or failed")
        set_status(db, bead, BeadStatus.OPEN, actor=actor, reason=reason, reopen=True)
        db.conn.execute("UPDATE beads SET assignee = NULL, dispatch_attempts = 0 WHERE id = ?", (bead["id"],))
    return bead_get(db, bead["id"])
