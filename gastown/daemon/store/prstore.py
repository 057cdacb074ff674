"""Store transactions of the pr strategy: a gated branch, an opened pull request, what the
forge said on each look, follow-up beads (review feedback, conflicts) for the polecat that
opened it, and the end (merged, closed). Free functions over the town store, each one
transaction that also writes its event (run them with `town.call(fn, store, ...)`).

The MR bead's metadata carries the PR's state: `pr_number`, `gated_head`, `forge_error`,
`forge_retry_at`, `forge_attempts`, `seen` (review and comment ids already turned into
follow-ups), `followup` (the open follow-up bead) and `pr_state` (checks, approval).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from gastown.daemon.store.agents import agent_row, set_agent_status
from gastown.daemon.store.beads import bead_create, bead_get, bead_row
from gastown.daemon.store.db import Db, Row, iso
from gastown.daemon.store.hooks import unhook
from gastown.daemon.store.links import link
from gastown.daemon.store.merges import mr_get, mr_merged
from gastown.daemon.store.statuses import set_status
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError


BACKOFF_S = (15, 30, 60, 120, 300, 600)
"""Wait before the next forge attempt, by failed attempts so far."""


def _patch(db: Db, bead_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    meta = {**bead_row(db, bead_id)["metadata"], **patch}
    meta = {k: v for k, v in meta.items() if v is not None}
    db.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(meta), db.now(), bead_id))
    return meta


def pr_gated(db: Db, mr_id: str, gates: list[dict[str, Any]], head: str) -> None:
    """The gates passed at `head`: remembered so a retry after a forge error does not rerun them."""
    with db.conn:
        db.conn.execute("UPDATE merge_requests SET gates = ? WHERE bead_id = ?", (json.dumps(gates), mr_id))
        _patch(db, mr_id, {"gated_head": head})
        db.event(mr_id, EventType.GATES_PASSED, actor="refinery", new=head, meta={"gates": [
            {"name": g["name"], "exit_code": g["exit_code"], "duration_s": g["duration_s"]} for g in gates]})


def pr_opened(db: Db, mr_id: str, url: str | None, number: int | None, *, found: bool) -> Row:
    """The pull request exists (created now, or found open for the branch): the lane is free."""
    with db.conn:
        db.conn.execute("UPDATE merge_requests SET pr_url = ? WHERE bead_id = ?", (url or "pushed", mr_id))
        _patch(db, mr_id, {"pr_number": number, "forge_error": None, "forge_retry_at": None,
                           "forge_attempts": None})
        db.event(mr_id, EventType.PR_CREATED, actor="refinery", new=url, meta={"number": number, "found": found})
    return mr_get(db, mr_id)


def forge_failed(db: Db, mr_id: str, failure: dict[str, Any], retry_after: float | None,
                 scale: float = 1.0) -> Row:
    """A forge call failed (401/403/404, rate limit, unreachable): the reason goes on the MR
    and the next attempt waits (exponential backoff, or what the forge asked for)."""
    with db.conn:
        meta = bead_row(db, mr_id)["metadata"]
        attempts = int(meta.get("forge_attempts") or 0) + 1
        wait = retry_after if retry_after is not None else BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)] * scale
        when = iso(db.clock() + timedelta(seconds=wait))
        _patch(db, mr_id, {"forge_error": failure, "forge_attempts": attempts, "forge_retry_at": when})
        db.event(mr_id, EventType.FORGE_ERROR, actor="refinery", new=failure["code"],
                 meta={**failure, "attempts": attempts, "retry_at": when})
    return mr_get(db, mr_id)


def pr_observed(db: Db, mr_id: str, state: dict[str, Any]) -> None:
    """What the forge shows now (checks, approval, mergeable); an event only when it changed."""
    with db.conn:
        meta = bead_row(db, mr_id)["metadata"]
        if meta.get("pr_state") == state and not meta.get("forge_error"):
            return
        _patch(db, mr_id, {"pr_state": state, "forge_error": None, "forge_retry_at": None, "forge_attempts": None})
        db.event(mr_id, EventType.PR_STATE, actor="refinery", meta=state)


def followup_create(db: Db, mr_id: str, *, kind: str, title: str, body: str,
                    extra: dict[str, Any], seen: list[str], mr_patch: dict[str, Any]) -> Row | None:
    """A pr_feedback or pr_conflict bead for the polecat that opened the PR, on its branch.
    None when one is already open for this MR (the next look after it is done picks up the rest)."""
    with db.conn:
        mr = mr_get(db, mr_id)
        meta = mr["metadata"]
        if meta.get("followup"):
            current = bead_row(db, meta["followup"])
            if not BeadStatus(current["status"]).terminal:
                return None
        source = bead_row(db, mr["source_bead_id"])
        polecat = source["assignee"] or _opener(db, mr)
        bead = bead_create(
            db, title, rig=mr["rig"], body=body, priority=source["priority"], created_by="refinery",
            requested_by=source["requested_by"], metadata={
                "followup": kind, "mr": mr_id, "branch": mr["branch"], "target": mr["target_branch"],
                "pr_url": mr["pr_url"], "pr_number": meta.get("pr_number"), "polecat": polecat,
                **({"script": source["metadata"]["script"]} if source["metadata"].get("script") else {}),
                **({"agent": source["metadata"]["agent"]} if source["metadata"].get("agent") else {}), **extra})
        link(db, bead["id"], mr_id, DepType.TRACKS, "refinery")
        _patch(db, mr_id, {"followup": bead["id"], "seen": sorted(set(meta.get("seen", [])) | set(seen)),
                           **mr_patch})
        db.event(mr_id, kind, actor="refinery", new=bead["id"], meta={"polecat": polecat, **extra})
    return bead_get(db, bead["id"])


def followup_open(db: Db, mr_id: str) -> bool:
    followup = bead_row(db, mr_id)["metadata"].get("followup")
    return bool(followup) and not BeadStatus(bead_row(db, followup)["status"]).terminal


def _opener(db: Db, mr: Row) -> str | None:
    """The polecat whose `gt done` made this MR (the MR bead's creator)."""
    return str(mr["created_by"]) if mr.get("created_by") else None


def followup_done(db: Db, agent_name: str, *, head: str, summary: str) -> Row:
    """`gt done` on a follow-up: the branch was pushed; the follow-up closes, the MR follows the
    new head, the polecat is free."""
    with db.conn:
        agent = agent_row(db, agent_name)
        bead = bead_row(db, agent["hook_bead_id"])
        mr_id = bead["metadata"]["mr"]
        db.conn.execute("UPDATE merge_requests SET head_sha = ? WHERE bead_id = ?", (head, mr_id))
        _patch(db, mr_id, {"head_sha": head})
        set_status(db, bead, BeadStatus.CLOSED, actor=agent_name, reason=f"pushed {head[:12]}: {summary}"[:500])
        db.event(mr_id, EventType.PR_UPDATED, actor=agent_name, new=head, meta={"followup": bead["id"]})
        unhook(db, agent, actor=agent_name, reason="done")
        set_agent_status(db, agent, AgentStatus.IDLE, reason="done")
    return bead_get(db, bead["id"])


def reply_recorded(db: Db, bead_id: str, reply: dict[str, Any]) -> None:
    with db.conn:
        meta = bead_row(db, bead_id)["metadata"]
        _patch(db, bead_id, {"replies": [*meta.get("replies", []), reply]})
        db.event(bead_id, EventType.PR_REPLY, actor=reply.get("agent"), new=reply["thread"], meta=reply)


def pr_closed(db: Db, mr_id: str, reason: str) -> Row:
    """Closed without merging: the MR and its source fail with the reason (a human decided;
    no rework round), and an open follow-up closes with them."""
    failure = {"code": FailureCode.PR_CLOSED, "message": reason, "source": "forge"}
    with db.conn:
        mr = mr_get(db, mr_id)
        set_status(db, bead_row(db, mr_id), BeadStatus.FAILED, actor="refinery", reason=reason, failure=failure)
        source = bead_row(db, mr["source_bead_id"])
        if not BeadStatus(source["status"]).terminal:
            set_status(db, source, BeadStatus.FAILED, actor="refinery", reason=reason, failure=failure)
        _close_followup(db, mr, f"the pull request was closed: {reason}")
    return mr_get(db, mr_id)


def _close_followup(db: Db, mr: Row, reason: str) -> None:
    followup = mr["metadata"].get("followup")
    if not followup:
        return
    bead = bead_row(db, followup)
    if BeadStatus(bead["status"]).terminal or bead["assignee"]:
        return  # a polecat at work on it finishes (its push is harmless); `gt done` then closes it
    set_status(db, bead, BeadStatus.CLOSED, actor="refinery", reason=reason)


def pr_merged(db: Db, mr_id: str, *, merge_commit: str, target: str) -> Row:
    """Merged on the forge: the MR, its source and any idle follow-up close with the merge sha."""
    with db.conn:
        mr = mr_merged(db, mr_id, merge_commit=merge_commit, landed_on=target, gates=mr_gates(db, mr_id),
                       message=f"pull request merged into {target} at {merge_commit[:12]}")
        _close_followup(db, mr, f"the pull request was merged at {merge_commit[:12]}")
    return mr


def mr_gates(db: Db, mr_id: str) -> list[dict[str, Any]]:
    row = db.conn.execute("SELECT gates FROM merge_requests WHERE bead_id = ?", (mr_id,)).get
    return list(json.loads(row)) if row else []


def followup_of(db: Db, agent_name: str) -> Row:
    """The follow-up bead on an agent's hook (an agent tool's precondition)."""
    agent = agent_row(db, agent_name)
    if not agent["hook_bead_id"]:
        raise RpcError(ErrorCode.INVALID_STATE, "nothing on your hook")
    bead = bead_row(db, agent["hook_bead_id"])
    if bead["type"] != BeadType.ISSUE.value or not bead["metadata"].get("followup"):
        raise RpcError(ErrorCode.INVALID_STATE, f"{bead['id']} is not a pull request follow-up: nothing to reply to")
    return bead

