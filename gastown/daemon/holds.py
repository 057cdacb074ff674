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
from typing import TYPE_CHECKING, Any

from gastown.model import BeadStatus, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.daemon.convoys import ConvoyStore

Row = dict[str, Any]
HELD = "gt:held"
PAUSED_KEY = "paused"


def parked_key(rig: str) -> str:
    return f"parked:{rig}"


def is_held(store: "ConvoyStore", bead_id: str) -> bool:
    return store.conn.execute("SELECT 1 FROM bead_labels WHERE bead_id = ? AND label = ?", (bead_id, HELD)).get \
        is not None


def _stop_hooked(store: "ConvoyStore", bead_id: str, failure: dict[str, Any]) -> Row | None:
    """Unhook the agent working `bead_id` (its worktree and branch are kept, it goes idle and
    is preferred when the bead is dispatched again); the interrupted attempt is not counted
    against the bead's backoff. Returns the agent, whose turn the caller stops."""
    row = store._one("SELECT name FROM agents WHERE hook_bead_id = ?", (bead_id,))
    if row is None:
        return None
    agent = store._agent(row["name"])
    store._unhook_to_open(agent, failure, restart=False)
    store.conn.execute("UPDATE beads SET dispatch_attempts = max(0, dispatch_attempts - 1) WHERE id = ?", (bead_id,))
    return agent


def mark_held(store: "ConvoyStore", bead_id: str, *, reason: str, actor: str | None) -> None:
    """Inside a transaction: label, metadata and the `held` event (idempotent)."""
    if is_held(store, bead_id):
        return
    store._add_label(bead_id, HELD)
    bead = store.bead_row(bead_id)
    meta = {**bead["metadata"], "hold": {"reason": reason, "by": actor or "human", "at": store.now()}}
    store.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                       (_json(meta), store.now(), bead_id))
    store._event(bead_id, EventType.HELD, actor=actor, new=reason or None, meta={"reason": reason})


def hold(store: "ConvoyStore", key: str, *, reason: str = "", actor: str | None = None) -> Row:
    """Never dispatch this bead until released; a running turn on it is stopped (returned
    as `stopped_agent` with its `turn_dir` for the caller to stop) and its work stays on
    its branch."""
    with store.conn:
        bead = store.bead_row(store.resolve(key))
        if BeadStatus(bead["status"]).terminal:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {bead['status']}: nothing to hold "
                           f"(reopen it with 'gt bead reopen {bead['id']} --reason ...')")
        if bead["status"] == BeadStatus.IN_REVIEW.value:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is in review: its work is in the merge "
                           f"queue (park the rig with 'gt rig park {bead['rig']}' to stop merges)")
        mark_held(store, bead["id"], reason=reason, actor=actor)
        agent = _stop_hooked(store, bead["id"], {
            "code": FailureCode.HELD, "source": "human",
            "message": f"held by {actor or 'a human'}" + (f": {reason}" if reason else "")})
    return {**store.bead_get(bead["id"]), "stopped_agent": _turn_of(agent)}


def release(store: "ConvoyStore", key: str, *, actor: str | None = None) -> Row:
    with store.conn:
        bead = store.bead_row(store.resolve(key))
        if not is_held(store, bead["id"]):
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is not held")
        _unmark(store, bead, actor)
    return store.bead_get(bead["id"])


def unmark(store: "ConvoyStore", bead: Row, actor: str | None) -> None:
    """Inside a transaction: drop the hold (label, metadata) with a `released` event."""
    _unmark(store, bead, actor)


def _unmark(store: "ConvoyStore", bead: Row, actor: str | None) -> None:
    store.conn.execute("DELETE FROM bead_labels WHERE bead_id = ? AND label = ?", (bead["id"], HELD))
    meta = {k: v for k, v in bead["metadata"].items() if k != "hold"}
    store.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                       (_json(meta), store.now(), bead["id"]))
    store._event(bead["id"], EventType.RELEASED, actor=actor)


def retry(store: "ConvoyStore", key: str, *, reason: str = "", actor: str | None = None) -> Row:
    """Dispatch now: clear the backoff (and a hold); a failed bead is reopened with the reason."""
    with store.conn:
        bead = store.bead_row(store.resolve(key))
        status = BeadStatus(bead["status"])
        if status == BeadStatus.FAILED:
            if not reason.strip():
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead {bead['id']} failed: say why it should run again "
                               f"(gt bead retry {bead['id']} --reason ...)")
            store._set_status(bead, BeadStatus.OPEN, actor=actor, reason=reason, reopen=True)
        elif status == BeadStatus.CLOSED:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is closed (reopen it with "
                           f"'gt bead reopen {bead['id']} --reason ...')")
        elif status != BeadStatus.OPEN:
            raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {status.value}: it is being worked on "
                           f"(hold it first with 'gt bead hold {bead['id']}')")
        if is_held(store, bead["id"]):
            _unmark(store, store.bead_row(bead["id"]), actor)
        store.conn.execute("UPDATE beads SET dispatch_attempts = 0, last_dispatch_at = NULL, updated_at = ? "
                           "WHERE id = ?", (store.now(), bead["id"]))
        store._event(bead["id"], EventType.RETRY, actor=actor, new=reason or None, meta={"reason": reason})
    return store.bead_get(bead["id"])


def park(store: "ConvoyStore", rig: str, *, reason: str = "", actor: str | None = None) -> Row:
    """No new dispatch and no merges on this rig until unparked; running turns finish."""
    store.rig_get(rig)
    with store.conn:
        state = {"reason": reason, "by": actor or "human", "at": store.now()}
        if store.patrol_get(parked_key(rig)) is None:
            store.patrol_set(parked_key(rig), state)
            store._event(None, EventType.RIG_PARKED, actor=actor, new=rig, meta={"rig": rig, "reason": reason})
    return rig_state(store, rig)


def unpark(store: "ConvoyStore", rig: str, *, actor: str | None = None) -> Row:
    store.rig_get(rig)
    with store.conn:
        if store.patrol_get(parked_key(rig)) is None:
            raise RpcError(ErrorCode.INVALID_STATE, f"rig {rig} is not parked")
        store.conn.execute("DELETE FROM patrol_state WHERE key = ?", (parked_key(rig),))
        store._event(None, EventType.RIG_UNPARKED, actor=actor, new=rig, meta={"rig": rig})
    return rig_state(store, rig)


def rig_state(store: "ConvoyStore", rig: str) -> Row:
    state = store.patrol_get(parked_key(rig))
    return {"id": rig, "name": rig, "parked": state is not None, **({"park": state} if state else {})}


def pause(store: "ConvoyStore", *, reason: str = "", actor: str | None = None) -> Row:
    """Dispatch nothing and merge nothing until resume; every running turn is stopped (the
    caller stops the returned turns), hooked beads go back to open with their work kept."""
    stopped: list[Row] = []
    with store.conn:
        if store.patrol_get(PAUSED_KEY) is None:
            store.patrol_set(PAUSED_KEY, {"reason": reason, "by": actor or "human", "at": store.now()})
            store._event(None, EventType.TOWN_PAUSED, actor=actor, new=reason or None, meta={"reason": reason})
        failure = {"code": FailureCode.PAUSED, "source": "human",
                   "message": f"the town was paused by {actor or 'a human'}" + (f": {reason}" if reason else "")}
        for a in store.agent_list():
            running = bool(a["turn_dir"]) and not a["turn_ended_at"]
            if a["hook_bead_id"]:
                agent = _stop_hooked(store, a["hook_bead_id"], failure)
                stopped.append(_turn_of(agent) or {})
            elif running:
                stopped.append({"name": a["name"], "turn_dir": a["turn_dir"]})
    return {**town_state(store), "stopped": [s for s in stopped if s.get("turn_dir")]}


def resume(store: "ConvoyStore", *, actor: str | None = None) -> Row:
    with store.conn:
        if store.patrol_get(PAUSED_KEY) is None:
            raise RpcError(ErrorCode.INVALID_STATE, "the town is not paused")
        store.conn.execute("DELETE FROM patrol_state WHERE key = ?", (PAUSED_KEY,))
        store._event(None, EventType.TOWN_RESUMED, actor=actor)
    return town_state(store)


def town_state(store: "ConvoyStore") -> Row:
    state = store.patrol_get(PAUSED_KEY)
    parked = [r[0].removeprefix("parked:") for r in store.conn.execute(
        "SELECT key FROM patrol_state WHERE key LIKE 'parked:%' ORDER BY key")]
    return {"paused": state is not None, **({"pause": state} if state else {}), "parked_rigs": parked}


def stop_agent(store: "ConvoyStore", agent_name: str, *, actor: str | None) -> Row:
    """`gt agent stop`: the agent stays stopped and the bead it was working is held (not
    handed to the next idle polecat six seconds later)."""
    with store.conn:
        agent = store._agent(agent_name)
        bead_id = agent["hook_bead_id"]
        if bead_id and store.bead_row(bead_id)["type"] == "issue":
            mark_held(store, bead_id, reason=f"agent {agent_name} was stopped", actor=actor)
            _stop_hooked(store, bead_id, {"code": FailureCode.STOPPED, "source": "human",
                                          "message": f"agent {agent_name} was stopped by {actor or 'a human'}"})
            agent = store._agent(agent_name)
        result = store.agent_stop(agent_name, actor=actor)
    return {**result, "held": bead_id if bead_id and is_held(store, bead_id) else None}


def _turn_of(agent: Row | None) -> Row | None:
    if agent is None or not agent["turn_dir"] or agent["turn_ended_at"]:
        return None
    return {"name": agent["name"], "turn_dir": agent["turn_dir"]}


def _json(value: Any) -> str:
    return json.dumps(value)


def forget_rig(store: "ConvoyStore", rig: str) -> None:
    """A removed rig leaves no park or gate opt-out behind for a later rig of the same name."""
    with store.conn:
        store.conn.execute("DELETE FROM patrol_state WHERE key IN (?, ?)", (parked_key(rig), f"no_gate:{rig}"))
