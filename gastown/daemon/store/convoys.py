"""Convoys: a batch of beads created atomically from a plan (`convoyplan` checks it),
optionally staged for the human to edit before it starts; it lands when every member is
merged. Progress is recounted and landing decided in `statuses` (a member's status change
sets both off), never bumped on a side path."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.agents import agent_on, set_agent_status
from gastown.daemon.store.beads import bead_create, bead_get, bead_row
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.hooks import unhook
from gastown.daemon.store.links import link
from gastown.daemon.store.statuses import recount_convoys, set_status
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, EventType
from gastown.protocol import ErrorCode, RpcError

STATUSES = ("open", "in_progress", "in_review", "closed", "failed")


def convoy_create(db: Db, plan: dict[str, Any], *, staged: bool, actor: str | None,
                  requested_by: str | None) -> Row:
    """The convoy and all its beads in one transaction: all or nothing."""
    with db.conn:
        convoy = bead_create(db, plan["title"], type=BeadType.CONVOY.value, created_by=actor,
                             requested_by=requested_by, metadata={"local_ids": {}})
        db.conn.execute("INSERT INTO convoys(bead_id, staged, merge_mode) VALUES (?, ?, ?)",
                        (convoy["id"], int(staged), plan.get("merge_mode") or "review-and-merge"))
        ids: dict[str, str] = {}
        for key in plan["order"]:
            b = plan["beads"][key]
            rig = b.get("rig") or plan.get("rig")
            if not rig:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}' has no rig (and the batch names none)")
            meta = {k: b[k] for k in ("script", "agent", "review_script") if b.get(k)}
            meta["convoy"] = convoy["id"]
            bead = bead_create(db, b["title"], rig=str(rig), body=str(b.get("body") or ""),
                               priority=int(b.get("priority", 2)), metadata=meta, created_by=actor,
                               requested_by=requested_by,
                               depends_on=[ids[str(d)] for d in b.get("depends_on", [])])
            link(db, bead["id"], convoy["id"], DepType.TRACKS, actor)
            ids[key] = bead["id"]
        db.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?",
                        (json.dumps({"local_ids": ids}), convoy["id"]))
        recount_convoys(db, next(iter(ids.values())))
        db.event(convoy["id"], EventType.CONVOY_CREATED, actor=actor, meta={"beads": ids, "staged": staged})
    return convoy_get(db, convoy["id"])


def convoy_get(db: Db, key: str) -> Row:
    bead = bead_get(db, key)
    row = db.one("SELECT * FROM convoys WHERE bead_id = ?", (bead["id"],))
    if row is None:
        raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not a convoy")
    members = [bead_row(db, d["id"]) for d in bead["dependents"] if d["type"] == DepType.TRACKS.value]
    progress = {s: 0 for s in STATUSES}
    for m in members:
        progress[m["status"]] += 1
    for m in members:
        m["depends_on"] = [d[0] for d in db.conn.execute(
            "SELECT depends_on FROM bead_dependencies WHERE bead_id = ? AND type = 'blocks'", (m["id"],))]
    return {**bead, "staged": bool(row["staged"]), "landed_at": row["landed_at"], "total": len(members),
            "merge_mode": row["merge_mode"],
            "progress": progress, "members": members}


def convoy_list(db: Db) -> list[Row]:
    return [convoy_get(db, r[0]) for r in db.conn.execute(
        "SELECT c.bead_id FROM convoys c JOIN beads b ON b.id = c.bead_id ORDER BY b.created_at")]


def convoy_start(db: Db, key: str, *, actor: str | None) -> Row:
    with db.conn:
        convoy = convoy_get(db, key)
        if not convoy["staged"]:
            raise RpcError(ErrorCode.INVALID_STATE, f"convoy {convoy['id']} is not staged")
        db.conn.execute("UPDATE convoys SET staged = 0 WHERE bead_id = ?", (convoy["id"],))
        db.event(convoy["id"], EventType.CONVOY_STARTED, actor=actor)
    return convoy_get(db, convoy["id"])


def convoy_close(db: Db, key: str, *, actor: str | None, reason: str) -> tuple[Row, list[str]]:
    """Force-close: unfinished members close too and their agents are unhooked. Returns
    the convoy and the agents whose turns the caller must stop."""
    with db.conn:
        convoy = convoy_get(db, key)
        # the convoy closes first, so closing its members below is not taken for a landing
        set_status(db, bead_row(db, convoy["id"]), BeadStatus.CLOSED, actor=actor, reason=reason)
        agents = []
        for m in convoy["members"]:
            if BeadStatus(m["status"]).terminal:
                continue
            agent = agent_on(db, m["id"])
            if agent:
                agents.append(agent["name"])
                unhook(db, agent, reason="convoy closed")
                if agent["status"] != AgentStatus.IDLE.value:
                    set_agent_status(db, agent, AgentStatus.IDLE, reason="convoy closed")
            set_status(db, bead_row(db, m["id"]), BeadStatus.CLOSED, actor=actor,
                       reason=f"convoy {convoy['id']} closed: {reason}")
        db.conn.execute("UPDATE convoys SET staged = 0 WHERE bead_id = ?", (convoy["id"],))
    return convoy_get(db, convoy["id"]), agents
