"""Steering a town by hand: hold and release a bead, retry it now, park a rig, pause the town.

Each is a short transaction over the town store (run on its writer thread). A hold is the
`gt:held` label (the ready rule already skips it) plus `metadata.hold` saying who and why;
a parked rig and a paused town are rows in `patrol_state` (`parked:<rig>`, `paused`), read
into the reconciler's snapshot so the scheduling rule stays in the pure reconciler.
Intent is recorded before effect: the store change commits first, then the caller stops
the running turn it returns.
"""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.agents import agent_list, agent_on, agent_row
from gastown.daemon.store.beads import add_label, bead_get, bead_row, resolve
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.rigs import rig_get
from gastown.daemon.store.state import patrol_delete, patrol_get, patrol_keys, patrol_set
from gastown.daemon.store.statuses import set_status
from gastown.daemon.store.turns import agent_stop, give_back
from gastown.model import BeadStatus, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError
HELD = "gt:held"
PAUSED_KEY = "paused"


def parked_key(rig: str) -> str:
    return f"parked:{rig}"


def is_held(db: Db, bead_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM bead_labels WHERE bead_id = ? AND label = ?", (bead_id, HELD)).get \
        is not None


def stop_hooked(db: Db, bead_id: str, failure: dict[str, Any]) -> Row | None:
    """Unhook the agent working `bead_id` (its worktree and branch are kept, it goes idle and
    is preferred when the bead is dispatched again); the interrupted attempt is not counted
    against the bead's backoff. Returns the agent, whose turn the caller stops."""
    agent = agent_on(db, bead_id)
    if agent is None:
        return None
    give_back(db, agent, failure, restart=False)
    db.conn.execute("UPDATE beads SET dispatch_attempts = max(0, dispatch_attempts - 1) WHERE id = ?", (bead_id,))
    return agent


def mark_held(db: Db, bead_id: str, *, reason: str, actor: str | None) -> None:
    """Inside a transaction: label, metadata and the `held` event (idempotent)."""
    if is_held(db, bead_id):
        return
    add_label(db, bead_id, HELD)
    bead = bead_row(db, bead_id)
    meta = {**bead["metadata"], "hold": {"reason": reason, "by": actor or "human", "at": db.now()}}
    db.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                    (_json(meta), db.now(), bead_id))
    db.event(bead_id, EventType.HELD, actor=actor, new=reason or None, meta={"reason": reason})


def hold(db: Db, key: str, *, reason: str = "", actor: str | None = None) -> Row:
    """Never dispatch this bead until released; a running turn on it is stopped (returned
    as `stopped_agent` with its `turn_dir` for the caller to stop) and its work stays on
    its branch."""
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        if BeadStatus(bead["status"]).terminal:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {bead['status']}: nothing to hold "
                           f"(reopen it with 'gt bead reopen {bead['id']} --reason ...')")
        if bead["status"] == BeadStatus.IN_REVIEW.value:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is in review: its work is in the merge "
                           f"queue (park the rig with 'gt rig park {bead['rig']}' to stop merges)")
        mark_held(db, bead["id"], reason=reason, actor=actor)
        agent = stop_hooked(db, bead["id"], {
            "code": FailureCode.HELD, "source": "human",
            "message": f"held by {actor or 'a human'}" + (f": {reason}" if reason else "")})
    return {**bead_get(db, bead["id"]), "stopped_agent": _turn_of(agent)}


def release(db: Db, key: str, *, actor: str | None = None) -> Row:
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        if not is_held(db, bead["id"]):
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is not held")
        _unmark(db, bead, actor)
    return bead_get(db, bead["id"])


def unmark(db: Db, bead: Row, actor: str | None) -> None:
    """Inside a transaction: drop the hold (label, metadata) with a `released` event."""
    _unmark(db, bead, actor)


def _unmark(db: Db, bead: Row, actor: str | None) -> None:
    db.conn.execute("DELETE FROM bead_labels WHERE bead_id = ? AND label = ?", (bead["id"], HELD))
    meta = {k: v for k, v in bead["metadata"].items() if k != "hold"}
    db.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                    (_json(meta), db.now(), bead["id"]))
    db.event(bead["id"], EventType.RELEASED, actor=actor)


def retry(db: Db, key: str, *, reason: str = "", actor: str | None = None) -> Row:
    """Dispatch now: clear the backoff (and a hold); a failed bead is reopened with the reason."""
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        status = BeadStatus(bead["status"])
        if status == BeadStatus.FAILED:
            if not reason.strip():
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead {bead['id']} failed: say why it should run again "
                               f"(gt bead retry {bead['id']} --reason ...)")
            set_status(db, bead, BeadStatus.OPEN, actor=actor, reason=reason, reopen=True)
        elif status == BeadStatus.CLOSED:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is closed (reopen it with "
                           f"'gt bead reopen {bead['id']} --reason ...')")
        elif status != BeadStatus.OPEN:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {status.value}: it is being worked on "
                           f"(hold it first with 'gt bead hold {bead['id']}')")
        if is_held(db, bead["id"]):
            _unmark(db, bead_row(db, bead["id"]), actor)
        db.conn.execute("UPDATE beads SET dispatch_attempts = 0, last_dispatch_at = NULL, updated_at = ? "
                        "WHERE id = ?", (db.now(), bead["id"]))
        db.event(bead["id"], EventType.RETRY, actor=actor, new=reason or None, meta={"reason": reason})
    return bead_get(db, bead["id"])


def park(db: Db, rig: str, *, reason: str = "", actor: str | None = None) -> Row:
    """No new dispatch and no merges on this rig until unparked; running turns finish."""
    rig_get(db, rig)
    with db.conn:
        state = {"reason": reason, "by": actor or "human", "at": db.now()}
        if patrol_get(db, parked_key(rig)) is None:
            patrol_set(db, parked_key(rig), state)
            db.event(None, EventType.RIG_PARKED, actor=actor, new=rig, meta={"rig": rig, "reason": reason})
    return rig_state(db, rig)


def unpark(db: Db, rig: str, *, actor: str | None = None) -> Row:
    rig_get(db, rig)
    with db.conn:
        if patrol_get(db, parked_key(rig)) is None:
            raise RpcError(ErrorCode.INVALID_STATE, f"rig {rig} is not parked")
        patrol_delete(db, parked_key(rig))
        db.event(None, EventType.RIG_UNPARKED, actor=actor, new=rig, meta={"rig": rig})
    return rig_state(db, rig)


def rig_state(db: Db, rig: str) -> Row:
    state = patrol_get(db, parked_key(rig))
    return {"id": rig, "name": rig, "parked": state is not None, **({"park": state} if state else {})}


def pause(db: Db, *, reason: str = "", actor: str | None = None) -> Row:
    """Dispatch nothing and merge nothing until resume; every running turn is stopped (the
    caller stops the returned turns), hooked beads go back to open with their work kept."""
    stopped: list[Row] = []
    with db.conn:
        if patrol_get(db, PAUSED_KEY) is None:
            patrol_set(db, PAUSED_KEY, {"reason": reason, "by": actor or "human", "at": db.now()})
            db.event(None, EventType.TOWN_PAUSED, actor=actor, new=reason or None, meta={"reason": reason})
        failure = {"code": FailureCode.PAUSED, "source": "human",
                   "message": f"the town was paused by {actor or 'a human'}" + (f": {reason}" if reason else "")}
        for a in agent_list(db):
            running = bool(a["turn_dir"]) and not a["turn_ended_at"]
            if a["hook_bead_id"]:
                agent = stop_hooked(db, a["hook_bead_id"], failure)
                stopped.append(_turn_of(agent) or {})
            elif running:
                stopped.append({"name": a["name"], "turn_dir": a["turn_dir"]})
    return {**town_state(db), "stopped": [s for s in stopped if s.get("turn_dir")]}


def resume(db: Db, *, actor: str | None = None) -> Row:
    with db.conn:
        if patrol_get(db, PAUSED_KEY) is None:
            raise RpcError(ErrorCode.INVALID_STATE, "the town is not paused")
        patrol_delete(db, PAUSED_KEY)
        db.event(None, EventType.TOWN_RESUMED, actor=actor)
    return town_state(db)


def town_state(db: Db) -> Row:
    state = patrol_get(db, PAUSED_KEY)
    parked = [k.removeprefix("parked:") for k in patrol_keys(db, "parked:")]
    return {"paused": state is not None, **({"pause": state} if state else {}), "parked_rigs": parked}


def stop_agent(db: Db, agent_name: str, *, actor: str | None) -> Row:
    """`gt agent stop`: the agent stays stopped and the bead it was working is held (not
    handed to the next idle polecat six seconds later)."""
    with db.conn:
        agent = agent_row(db, agent_name)
        bead_id = agent["hook_bead_id"]
        if bead_id and bead_row(db, bead_id)["type"] == "issue":
            mark_held(db, bead_id, reason=f"agent {agent_name} was stopped", actor=actor)
            stop_hooked(db, bead_id, {"code": FailureCode.STOPPED, "source": "human",
                                      "message": f"agent {agent_name} was stopped by {actor or 'a human'}"})
            agent = agent_row(db, agent_name)
        result = agent_stop(db, agent_name, actor=actor)
    return {**result, "held": bead_id if bead_id and is_held(db, bead_id) else None}


def _turn_of(agent: Row | None) -> Row | None:
    if agent is None or not agent["turn_dir"] or agent["turn_ended_at"]:
        return None
    return {"name": agent["name"], "turn_dir": agent["turn_dir"]}


def _json(value: Any) -> str:
    return json.dumps(value)


def forget_rig(db: Db, rig: str) -> None:
    """A removed rig leaves no park or gate opt-out behind for a later rig of the same name."""
    patrol_delete(db, parked_key(rig), f"no_gate:{rig}")



def held_by(db: Db, actor: str, reason: str) -> list[Row]:
    """Beads held by `actor` for `reason` (the ledger's budget holds): id, rig, convoy,
    requested_by."""
    return list(db.rows(
        "SELECT b.id, b.rig, json_extract(b.metadata, '$.convoy') AS convoy, b.requested_by FROM beads b "
        "JOIN bead_labels l ON l.bead_id = b.id AND l.label = ? "
        "WHERE json_extract(b.metadata, '$.hold.reason') = ? AND json_extract(b.metadata, '$.hold.by') = ?",
        (HELD, reason, actor)))
