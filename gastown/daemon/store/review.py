"""The refinery's review turn: one agent per rig reads a merge request and approves it or
asks for changes. The review state lives in the MR's metadata with its history."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.agents import agent_row, named_agent, set_agent_status
from gastown.daemon.store.beads import bead_row
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.hooks import hook, unhook
from gastown.daemon.store.merges import mr_get
from gastown.model import AgentStatus, BeadType, EventType, Role
from gastown.protocol import ErrorCode, RpcError


def set_review(db: Db, mr_id: str, review: dict[str, Any]) -> None:
    """Record a review state (`pending`, `approved`, `changes_requested`, `missing`) with its event."""
    meta = bead_row(db, mr_id)["metadata"]
    history = meta.get("reviews", [])
    if review["state"] != "pending":
        history = [*history, review]
    db.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                    (json.dumps({**meta, "review": review, "reviews": history}), db.now(), mr_id))
    db.event(mr_id, EventType("review_" + review["state"]), actor=review.get("agent"), meta=review)


def review_agent(db: Db, rig: str, adapter: str) -> Row:
    """The rig's single refinery agent, created on first use."""
    return named_agent(db, f"refinery-{rig}", role=Role.REFINERY.value, rig=rig, adapter=adapter)


def review_begin(db: Db, mr_id: str, agent_name: str) -> Row:
    with db.conn:
        agent = agent_row(db, agent_name)
        if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
            raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is busy")
        hook(db, agent, mr_id, why="review")
        set_review(db, mr_id, {"state": "pending", "agent": agent_name})
        set_agent_status(db, agent, AgentStatus.STARTING)
    return agent_row(db, agent_name)


def review_verdict(db: Db, agent_name: str, verdict: str, reason: str) -> Row:
    with db.conn:
        agent = agent_row(db, agent_name)
        mr_id = agent["hook_bead_id"]
        if not mr_id or bead_row(db, mr_id)["type"] != BeadType.MERGE_REQUEST.value:
            raise RpcError(ErrorCode.INVALID_STATE, "no merge request on your hook to review")
        state = "approved" if verdict == "approve" else "changes_requested"
        set_review(db, mr_id, {"state": state, "agent": agent_name, "why": reason})
        unhook(db, agent, actor=agent_name, reason=f"review: {state}")
        set_agent_status(db, agent, AgentStatus.IDLE, reason=f"review: {state}")
    return mr_get(db, mr_id)
