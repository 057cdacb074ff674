"""Merge requests: `gt done` opens one, the refinery begins, merges, fails (rework or give
up with an escalation) or requeues it. The queue is a query over MR status (gastown #1102)."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store import integration
from gastown.daemon.store.agents import set_agent_status
from gastown.daemon.store.beads import bead_create, bead_get, bead_row
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.escalations import escalation_create
from gastown.daemon.store.hooks import on_hook, unhook
from gastown.daemon.store.links import link
from gastown.daemon.store.statuses import set_status
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

MERGED = "merged"


def outcome(mr: dict[str, Any]) -> str:
    """What happened to a merge request, as `gt mq list` shows it: its bead's status, except
    that a closed MR with a merge commit was merged (closed without one: superseded, its
    source already done, or its pull request closed unmerged)."""
    return MERGED if mr["status"] == "closed" and mr.get("merge_commit") else str(mr["status"])


def _insert_mr(db: Db, mr_id: str, source_id: str, rig: str, branch: str, target: str, head: str) -> None:
    db.conn.execute("INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (mr_id, source_id, rig, branch, target, head))


def agent_done(db: Db, agent_name: str, *, summary: str, head_sha: str, branch: str, target_branch: str,
               commits: int, turn_dir: str | None = None, request_id: str | None = None) -> Row:
    """`gt done`: the merge request and the hand-off, in one transaction (gascity #1289).
    The turn and request id are kept on the MR so a repeated `done` finds it (turnlog)."""
    with db.conn:
        agent, bead = on_hook(db, agent_name)
        bead_id = bead["id"]
        mr = bead_create(db, f"merge {branch}", type=BeadType.MERGE_REQUEST.value, rig=bead["rig"],
                         body=summary, created_by=agent_name, requested_by=bead["requested_by"],
                         priority=bead["priority"],
                         metadata={"source_bead_id": bead_id, "head_sha": head_sha, "commits": commits,
                                   **({"turn_dir": turn_dir} if turn_dir else {}),
                                   **({"request_id": request_id} if request_id else {}),
                                   **({"script": bead["metadata"]["review_script"]}
                                      if bead["metadata"].get("review_script") else {})})
        _insert_mr(db, mr["id"], bead_id, bead["rig"], branch, target_branch, head_sha)
        link(db, mr["id"], bead_id, DepType.TRACKS, agent_name)
        db.conn.execute("UPDATE beads SET failure_reason = NULL WHERE id = ?", (bead_id,))
        set_status(db, bead, BeadStatus.IN_REVIEW, actor=agent_name, reason=summary or None)
        db.event(bead_id, EventType.AGENT_DONE, actor=agent_name,
                 meta={"head_sha": head_sha, "branch": branch, "mr": mr["id"], "summary": summary})
        unhook(db, agent, actor=agent_name, reason="done")
        set_agent_status(db, agent, AgentStatus.IDLE, reason="done")
    return bead_get(db, mr["id"])


def merge_requests(db: Db, *, status: str | None = None, active: bool = False, rig: str | None = None) -> list[Row]:
    """The queue is a query over MR status (gastown #1102), in queue order."""
    where, args = [], []
    if status == MERGED:
        where.append("b.status = 'closed' AND m.merge_commit IS NOT NULL")
    elif status:
        where.append("b.status = ?")
        args.append(status)
    if active:
        where.append("b.status IN ('open', 'in_progress')")
    if rig:
        where.append("m.rig = ?")
        args.append(rig)
    sql = ("SELECT m.*, b.status, b.title, b.priority, b.created_at, b.updated_at, s.status AS source_status, "
           "json_extract(b.metadata, '$.forge_retry_at') AS retry_at "
           "FROM merge_requests m JOIN beads b ON b.id = m.bead_id JOIN beads s ON s.id = m.source_bead_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY b.priority, b.created_at")
    out = []
    for r in db.rows(sql, args):
        r["gates"] = json.loads(r["gates"])
        r["id"] = r["bead_id"]
        r["outcome"] = outcome(r)
        out.append(r)
    return out


def mr_get(db: Db, key: str) -> Row:
    bead = bead_get(db, key)
    row = db.one("SELECT * FROM merge_requests WHERE bead_id = ?", (bead["id"],))
    if row is None:
        raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not a merge request")
    row["gates"] = json.loads(row["gates"])
    mr = {**bead, **row, "id": bead["id"]}
    return {**mr, "outcome": outcome(mr)}


def mr_begin(db: Db, mr_id: str) -> Row:
    with db.conn:
        set_status(db, bead_row(db, mr_id), BeadStatus.IN_PROGRESS, actor="refinery")
    return mr_get(db, mr_id)


def _close_sources(db: Db, mr: Row, source_id: str, merge_commit: str, landed_on: str) -> None:
    source = bead_row(db, source_id)
    if not BeadStatus(source["status"]).terminal:
        set_status(db, source, BeadStatus.CLOSED, actor="refinery",
                   reason=f"merged into {landed_on} at {merge_commit[:12]}")
    for (sibling,) in list(db.conn.execute(
            "SELECT m.bead_id FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
            "WHERE m.source_bead_id = ? AND m.bead_id != ? AND b.status NOT IN ('closed', 'failed')",
            (source_id, mr["id"]))):
        set_status(db, bead_row(db, sibling), BeadStatus.CLOSED, actor="refinery", reason=f"superseded by {mr['id']}")


def mr_merged(db: Db, mr_id: str, *, merge_commit: str, landed_on: str, gates: list[dict[str, Any]],
              message: str) -> Row:
    """The MR, its source bead and the source's other MRs close in one transaction
    (gastown #2321: a source left open after its merge gets dispatched again); a convoy's
    landing merge also marks the convoy landed."""
    with db.conn:
        mr = mr_get(db, mr_id)
        db.conn.execute("UPDATE merge_requests SET merge_commit = ?, gates = ? WHERE bead_id = ?",
                        (merge_commit, json.dumps(gates), mr_id))
        set_status(db, bead_row(db, mr_id), BeadStatus.CLOSED, actor="refinery", reason=message)
        db.event(mr["source_bead_id"], EventType.MERGED, actor="refinery", new=merge_commit,
                 meta={"mr": mr_id, "landed_on": landed_on, "branch": mr["branch"]})
        _close_sources(db, mr, mr["source_bead_id"], merge_commit, landed_on)
        merged = mr_get(db, mr_id)
        integration.landed(db, merged)
    return merged


def rework_rounds(db: Db, source_id: str) -> int:
    return int(db.conn.execute(
        "SELECT count(*) FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
        "WHERE m.source_bead_id = ? AND b.status = 'failed'", (source_id,)).get or 0)


def mr_failed(db: Db, mr_id: str, failure: dict[str, Any], *, gates: list[dict[str, Any]], max_retries: int) -> str:
    """A red gate or a conflict: the MR fails and its source goes back for rework with the
    reason, or fails (with an escalation) once its rework rounds are used up."""
    with db.conn:
        mr = mr_get(db, mr_id)
        db.conn.execute("UPDATE merge_requests SET gates = ? WHERE bead_id = ?", (json.dumps(gates), mr_id))
        set_status(db, bead_row(db, mr_id), BeadStatus.FAILED, actor="refinery", reason=failure["message"],
                   failure=failure)
        source = bead_row(db, mr["source_bead_id"])
        if BeadStatus(source["status"]).terminal:
            return "source_terminal"
        rounds = rework_rounds(db, source["id"])
        failure = {**failure, "details": {**failure.get("details", {}), "mr": mr_id, "round": rounds}}
        if rounds > max_retries:
            set_status(db, source, BeadStatus.FAILED, actor="refinery", failure={
                **failure, "code": FailureCode.REWORK_EXHAUSTED,
                "message": f"{failure['message']} (after {rounds} merge attempts)"})
            escalation_create(db, f"{source['id']} failed in the merge queue {rounds} times: {failure['message']}",
                              severity="high", source="refinery", bead_id=source["id"], category="merge")
            return "failed"
        db.conn.execute("UPDATE beads SET assignee = NULL, dispatch_attempts = 0 WHERE id = ?", (source["id"],))
        set_status(db, source, BeadStatus.OPEN, actor="refinery", reason=failure["message"], failure=failure)
        db.event(source["id"], EventType.REWORK_REQUESTED, actor="refinery", meta={"failure_reason": failure})
    return "rework"


def mr_requeue(db: Db, mr_id: str, reason: str) -> Row:
    """Not the branch's fault (the target moved, the remote was down): back in the queue."""
    with db.conn:
        mr = bead_row(db, mr_id)
        db.conn.execute("UPDATE merge_requests SET retry_count = retry_count + 1 WHERE bead_id = ?", (mr_id,))
        set_status(db, mr, BeadStatus.OPEN, actor="refinery", reason=reason)
    return mr_get(db, mr_id)


def mr_set_pr(db: Db, mr_id: str, pr_url: str | None) -> None:
    with db.conn:
        db.conn.execute("UPDATE merge_requests SET pr_url = ? WHERE bead_id = ?", (pr_url or "pushed", mr_id))
        db.event(mr_id, EventType.PR_CREATED, actor="refinery", new=pr_url)


def mq_retry(db: Db, key: str, *, actor: str | None) -> Row:
    """A new MR for a failed one's branch (terminal beads never reopen silently)."""
    with db.conn:
        old = mr_get(db, key)
        if old["status"] != BeadStatus.FAILED.value:
            raise RpcError(ErrorCode.INVALID_STATE, f"{old['id']} is {old['status']}; only a failed MR is retried")
        source = bead_row(db, old["source_bead_id"])
        active = db.conn.execute(
            "SELECT count(*) FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
            "WHERE m.source_bead_id = ? AND b.status NOT IN ('closed', 'failed')", (source["id"],)).get
        if BeadStatus(source["status"]).terminal or active or source["assignee"]:
            raise RpcError(ErrorCode.INVALID_STATE,
                           f"source {source['id']} is {source['status']}"
                           f"{' with an active merge request' if active else ''}; nothing to retry")
        mr = bead_create(db, old["title"], type=BeadType.MERGE_REQUEST.value, rig=old["rig"], body=old["body"],
                         created_by=actor, requested_by=source["requested_by"], priority=old["priority"],
                         metadata={**old["metadata"], "retry_of": old["id"]})
        _insert_mr(db, mr["id"], source["id"], old["rig"], old["branch"], old["target_branch"], old["head_sha"])
        link(db, mr["id"], source["id"], DepType.TRACKS, actor)
        set_status(db, source, BeadStatus.IN_REVIEW, actor=actor, reason=f"merge retried as {mr['id']}")
    return mr_get(db, mr["id"])


def latest_mr_of(db: Db, source_id: str) -> Row | None:
    """The newest merge request opened for a bead's work (its branches, for a diff)."""
    return db.one("SELECT m.branch, m.target_branch, m.head_sha, m.rig, m.merge_commit FROM merge_requests m "
                  "JOIN beads b ON b.id = m.bead_id WHERE m.source_bead_id = ? "
                  "ORDER BY b.created_at DESC LIMIT 1", (source_id,))
