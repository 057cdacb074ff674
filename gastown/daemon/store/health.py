"""The patrol's verbs on agents' health: quarantine a crash-looping agent, clear a zombie,
report stranded work, start a nudged turn, and the triage case of a stuck agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gastown.daemon.store.agents import agent_row, busy, named_agent, set_agent_status
from gastown.daemon.store.beads import bead_row
from gastown.daemon.store.db import Db, Row, iso
from gastown.daemon.store.escalations import escalation_create
from gastown.daemon.store.hooks import unhook
from gastown.daemon.store.state import patrol_get, patrol_set
from gastown.daemon.store.turns import give_back
from gastown.model import AgentStatus, BeadStatus, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError


def agent_quarantine(db: Db, agent_name: str, restarts: int) -> Row:
    """A crash-looping agent stops getting work (until `gt agent reset`), with one escalation."""
    with db.conn:
        agent = agent_row(db, agent_name)
        if agent["status"] in ("quarantined", "stopped"):
            return agent
        if agent["hook_bead_id"]:
            give_back(db, agent, {"code": FailureCode.QUARANTINED, "message": f"agent {agent_name} crashed "
                                  f"{restarts} times in an hour", "source": "patrol"}, restart=False)
        if agent["status"] not in ("idle", "failed"):
            set_agent_status(db, agent, AgentStatus.IDLE)
        set_agent_status(db, agent, AgentStatus.QUARANTINED, reason=f"{restarts} restarts in an hour")
        escalation_create(db, f"agent {agent_name} is quarantined after {restarts} crashes in an hour; "
                          f"see 'gt agent logs {agent_name}', then 'gt agent reset {agent_name}'",
                          severity="high", source="patrol", category="crash_loop")
    return agent_row(db, agent_name)


def zombie_clear(db: Db, agent_name: str, reason: str) -> Row:
    """Working with nothing to work on, or hooked to finished work: unhook and idle."""
    with db.conn:
        agent = agent_row(db, agent_name)
        if agent["hook_bead_id"]:
            if not BeadStatus(bead_row(db, agent["hook_bead_id"])["status"]).terminal:
                return agent  # not a zombie any more
            unhook(db, agent, actor="patrol", reason=reason)
        if agent["status"] in ("working", "starting", "stalled"):
            set_agent_status(db, agent, AgentStatus.IDLE, reason=f"zombie: {reason}", actor="patrol")
    return agent_row(db, agent_name)


def report_stranded(db: Db, bead_ids: list[str]) -> None:
    with db.conn:
        now = db.now()
        for bead_id in bead_ids:
            db.event(bead_id, EventType.STRANDED, actor="patrol", meta={"reason": "ready but no polecat capacity"})
            patrol_set(db, f"stranded:{bead_id}", now)


def nudge_turn_begin(db: Db, agent_name: str) -> Row:
    with db.conn:
        agent = agent_row(db, agent_name)
        if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
            raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is not idle")
        set_agent_status(db, agent, AgentStatus.STARTING, reason="nudged")
    return agent_row(db, agent_name)


def container_died(db: Db, payload: dict[str, Any]) -> None:
    with db.conn:
        db.event(None, EventType.CONTAINER_DIED, actor="runtime", meta=payload)


def triage_begin(db: Db, agent: str, bead_id: str, adapter: str, per_hour: int) -> Row | None:
    """Open a triage case for a stuck agent, unless the hourly cap is used up or a case
    is still open. Returns the triage agent, or None (then the caller escalates)."""
    with db.conn:
        state = patrol_get(db, "triage") or {"runs": [], "open": None}
        hour_ago = db.clock().timestamp() - 3600
        runs = [t for t in state["runs"] if t > hour_ago]
        if state.get("open") or len(runs) >= per_hour:
            return None
        triage = named_agent(db, "triage", role="triage", rig=None, adapter=adapter)
        if busy(triage):
            return None
        patrol_set(db, "triage", {"runs": [*runs, db.clock().timestamp()], "open": {"agent": agent, "bead": bead_id}})
        set_agent_status(db, triage, AgentStatus.STARTING, reason=f"triage of {agent}")
        db.event(bead_id, EventType.TRIAGE_REQUESTED, actor="patrol", meta={"agent": agent})
    return agent_row(db, "triage")


def triage_verdict(db: Db, verdict: str, reason: str) -> dict[str, Any]:
    """Record the verdict and close the case; the caller carries it out."""
    with db.conn:
        state = patrol_get(db, "triage") or {}
        case: dict[str, Any] | None = state.get("open")
        if not case:
            raise RpcError(ErrorCode.INVALID_STATE, "there is no open triage case")
        patrol_set(db, "triage", {**state, "open": None})
        db.event(case["bead"], EventType.TRIAGE_RESOLVED, actor="triage", new=verdict,
                 meta={"agent": case["agent"], "reason": reason})
        resolved = {**case, "verdict": verdict, "reason": reason}
    return resolved


def triage_abandon(db: Db) -> None:
    """A triage turn that ended without a verdict closes its case: no triage of triage."""
    with db.conn:
        state = patrol_get(db, "triage") or {}
        if state.get("open"):
            db.event(state["open"]["bead"], EventType.TRIAGE_ABANDONED, actor="patrol", meta=state["open"])
            patrol_set(db, "triage", {**state, "open": None})


def gupp_defer(db: Db, agent: str, until: datetime) -> None:
    """Triage judged a stalled agent still working: the patrol leaves it alone until `until`
    (stored in `gupp:<agent>`, with the `gupp_deferred` event)."""
    with db.conn:
        state = patrol_get(db, f"gupp:{agent}") or {}
        patrol_set(db, f"gupp:{agent}", {**state, "deferred_until": iso(until)})
        db.event(None, EventType.GUPP_DEFERRED, actor="triage", new=agent, meta={"until": until.isoformat()})
