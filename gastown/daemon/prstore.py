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
from typing import TYPE_CHECKING, Any

from gastown.daemon.store import Row, iso
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.daemon.convoys import ConvoyStore

BACKOFF_S = (15, 30, 60, 120, 300, 600)
"""Wait before the next forge attempt, by failed attempts so far."""


def _patch(store: "ConvoyStore", bead_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    meta = {**store.bead_row(bead_id)["metadata"], **patch}
    meta = {k: v for k, v in meta.items() if v is not None}
    store.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                       (json.dumps(meta), store.now(), bead_id))
    return meta


def pr_gated(store: "ConvoyStore", mr_id: str, gates: list[dict[str, Any]], head: str) -> None:
    """The gates passed at `head`: remembered so a retry after a forge error does not rerun them."""
    with store.conn:
        store.conn.execute("UPDATE merge_requests SET gates = ? WHERE bead_id = ?", (json.dumps(gates), mr_id))
        _patch(store, mr_id, {"gated_head": head})
        store._event(mr_id, EventType.GATES_PASSED, actor="refinery", new=head, meta={"gates": [
            {"name": g["name"], "exit_code": g["exit_code"], "duration_s": g["duration_s"]} for g in gates]})


def pr_opened(store: "ConvoyStore", mr_id: str, url: str | None, number: int | None, *, found: bool) -> Row:
    """The pull request exists (created now, or found open for the branch): the lane is free."""
    with store.conn:
        store.conn.execute("UPDATE merge_requests SET pr_url = ? WHERE bead_id = ?", (url or "pushed", mr_id))
        _patch(store, mr_id, {"pr_number": number, "forge_error": None, "forge_retry_at": None,
                              "forge_attempts": None})
        store._event(mr_id, EventType.PR_CREATED, actor="refinery", new=url, meta={"number": number, "found": found})
    return store.mr_get(mr_id)


def forge_failed(store: "ConvoyStore", mr_id: str, failure: dict[str, Any], retry_after: float | None,
                 scale: float = 1.0) -> Row:
    """A forge call failed (401/403/404, rate limit, unreachable): the reason goes on the MR
    and the next attempt waits (exponential backoff, or what the forge asked for)."""
    with store.conn:
        meta = store.bead_row(mr_id)["metadata"]
        attempts = int(meta.get("forge_attempts") or 0) + 1
        wait = retry_after if retry_after is not None else BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)] * scale
        when = iso(store.clock() + timedelta(seconds=wait))
        _patch(store, mr_id, {"forge_error": failure, "forge_attempts": attempts, "forge_retry_at": when})
        store._event(mr_id, EventType.FORGE_ERROR, actor="refinery", new=failure["code"],
                     meta={**failure, "attempts": attempts, "retry_at": when})
    return store.mr_get(mr_id)


def pr_observed(store: "ConvoyStore", mr_id: str, state: dict[str, Any]) -> None:
    """What the forge shows now (checks, approval, mergeable); an event only when it changed."""
    with store.conn:
        meta = store.bead_row(mr_id)["metadata"]
        if meta.get("pr_state") == state and not meta.get("forge_error"):
            return
        _patch(store, mr_id, {"pr_state": state, "forge_error": None, "forge_retry_at": None, "forge_attempts": None})
        store._event(mr_id, EventType.PR_STATE, actor="refinery", meta=state)


def followup_create(store: "ConvoyStore", mr_id: str, *, kind: str, title: str, body: str,
                    extra: dict[str, Any], seen: list[str], mr_patch: dict[str, Any]) -> Row | None:
    """A pr_feedback or pr_conflict bead for the polecat that opened the PR, on its branch.
    None when one is already open for this MR (the next look after it is done picks up the rest)."""
    with store.conn:
        mr = store.mr_get(mr_id)
        meta = mr["metadata"]
        if meta.get("followup"):
            current = store.bead_row(meta["followup"])
            if not BeadStatus(current["status"]).terminal:
                return None
        source = store.bead_row(mr["source_bead_id"])
        polecat = source["assignee"] or _opener(store, mr)
        bead = store.bead_create(
            title, rig=mr["rig"], body=body, priority=source["priority"], created_by="refinery",
            requested_by=source["requested_by"], metadata={
                "followup": kind, "mr": mr_id, "branch": mr["branch"], "target": mr["target_branch"],
                "pr_url": mr["pr_url"], "pr_number": meta.get("pr_number"), "polecat": polecat,
                **({"script": source["metadata"]["script"]} if source["metadata"].get("script") else {}),
                **({"agent": source["metadata"]["agent"]} if source["metadata"].get("agent") else {}), **extra})
        store._dep_insert(bead["id"], mr_id, DepType.TRACKS, "refinery")
        _patch(store, mr_id, {"followup": bead["id"], "seen": sorted(set(meta.get("seen", [])) | set(seen)),
                              **mr_patch})
        store._event(mr_id, kind, actor="refinery", new=bead["id"], meta={"polecat": polecat, **extra})
    return store.bead_get(bead["id"])


def followup_open(store: "ConvoyStore", mr_id: str) -> bool:
    followup = store.bead_row(mr_id)["metadata"].get("followup")
    return bool(followup) and not BeadStatus(store.bead_row(followup)["status"]).terminal


def _opener(store: "ConvoyStore", mr: Row) -> str | None:
    """The polecat whose `gt done` made this MR (the MR bead's creator)."""
    return str(mr["created_by"]) if mr.get("created_by") else None


def followup_done(store: "ConvoyStore", agent_name: str, *, head: str, summary: str) -> Row:
    """`gt done` on a follow-up: the branch was pushed; the follow-up closes, the MR follows the
    new head, the polecat is free."""
    with store.conn:
        agent = store._agent(agent_name)
        bead = store.bead_row(agent["hook_bead_id"])
        mr_id = bead["metadata"]["mr"]
        store.conn.execute("UPDATE merge_requests SET head_sha = ? WHERE bead_id = ?", (head, mr_id))
        _patch(store, mr_id, {"head_sha": head})
        store._set_status(bead, BeadStatus.CLOSED, actor=agent_name, reason=f"pushed {head[:12]}: {summary}"[:500])
        store._event(mr_id, EventType.PR_UPDATED, actor=agent_name, new=head, meta={"followup": bead["id"]})
        store.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent_name,))
        store._set_agent_status(agent, AgentStatus.IDLE, reason="done")
    return store.bead_get(bead["id"])


def reply_recorded(store: "ConvoyStore", bead_id: str, reply: dict[str, Any]) -> None:
    with store.conn:
        meta = store.bead_row(bead_id)["metadata"]
        _patch(store, bead_id, {"replies": [*meta.get("replies", []), reply]})
        store._event(bead_id, EventType.PR_REPLY, actor=reply.get("agent"), new=reply["thread"], meta=reply)


def pr_closed(store: "ConvoyStore", mr_id: str, reason: str) -> Row:
    """Closed without merging: the MR and its source fail with the reason (a human decided;
    no rework round), and an open follow-up closes with them."""
    failure = {"code": FailureCode.PR_CLOSED, "message": reason, "source": "forge"}
    with store.conn:
        mr = store.mr_get(mr_id)
        store._set_status(store.bead_row(mr_id), BeadStatus.FAILED, actor="refinery", reason=reason, failure=failure)
        source = store.bead_row(mr["source_bead_id"])
        if not BeadStatus(source["status"]).terminal:
            store._set_status(source, BeadStatus.FAILED, actor="refinery", reason=reason, failure=failure)
        _close_followup(store, mr, f"the pull request was closed: {reason}")
    return store.mr_get(mr_id)


def _close_followup(store: "ConvoyStore", mr: Row, reason: str) -> None:
    followup = mr["metadata"].get("followup")
    if not followup:
        return
    bead = store.bead_row(followup)
    if BeadStatus(bead["status"]).terminal or bead["assignee"]:
        return  # a polecat at work on it finishes (its push is harmless); `gt done` then closes it
    store._set_status(bead, BeadStatus.CLOSED, actor="refinery", reason=reason)


def pr_merged(store: "ConvoyStore", mr_id: str, *, merge_commit: str, target: str) -> Row:
    """Merged on the forge: the MR, its source and any idle follow-up close with the merge sha."""
    with store.conn:
        mr = store.mr_merged(mr_id, merge_commit=merge_commit, landed_on=target, gates=mr_gates(store, mr_id),
                             message=f"pull request merged into {target} at {merge_commit[:12]}")
        _close_followup(store, mr, f"the pull request was merged at {merge_commit[:12]}")
    return mr


def mr_gates(store: "ConvoyStore", mr_id: str) -> list[dict[str, Any]]:
    row = store.conn.execute("SELECT gates FROM merge_requests WHERE bead_id = ?", (mr_id,)).get
    return list(json.loads(row)) if row else []


def followup_of(store: "ConvoyStore", agent_name: str) -> Row:
    """The follow-up bead on an agent's hook (an agent tool's precondition)."""
    agent = store._agent(agent_name)
    if not agent["hook_bead_id"]:
        raise RpcError(ErrorCode.INVALID_STATE, "nothing on your hook")
    bead = store.bead_row(agent["hook_bead_id"])
    if bead["type"] != BeadType.ISSUE.value or not bead["metadata"].get("followup"):
        raise RpcError(ErrorCode.INVALID_STATE, f"{bead['id']} is not a pull request follow-up: nothing to reply to")
    return bead
