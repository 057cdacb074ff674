"""`gt done --status no-change|deferred|escalated`: finishing a bead without a merge.

Not every bead ends in code: the bug is already fixed, the work must wait for a decision,
or a human has to step in. Each outcome is one transaction that also releases the agent
(idle, its worktree and branch kept), so such a turn is never counted as a crash:
- no-change: the bead closes with the summary as its resolution; nothing is merged.
- deferred: the bead is held with the summary as the reason (`gt bead release` resumes it).
- escalated: an escalation is raised with the summary and the bead is held.
"""

from __future__ import annotations

from typing import Any

from gastown.daemon.store import holds
from gastown.daemon.store.agents import set_agent_status
from gastown.daemon.store.beads import bead_get
from gastown.daemon.store.db import Db
from gastown.daemon.store.escalations import escalation_create
from gastown.daemon.store.hooks import on_hook, unhook
from gastown.daemon.store.statuses import set_status
from gastown.model import AgentStatus, BeadStatus, EventType
from gastown.protocol import ErrorCode, RpcError


STATUSES = ("done", "no-change", "deferred", "escalated")
"""`done` (the default) hands commits to the merge queue; the others finish without a merge."""


def check(status: str, summary: str) -> None:
    if status not in STATUSES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"invalid status '{status}': use one of {', '.join(STATUSES)}")
    if status != "done" and not summary.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, f"'gt done --status {status}' needs --summary saying why")


def finish(db: Db, agent_name: str, *, status: str, summary: str) -> dict[str, Any]:
    check(status, summary)
    with db.conn:
        agent, bead = on_hook(db, agent_name)
        bead_id = bead["id"]
        escalation = None
        db.event(bead_id, EventType.AGENT_DONE, actor=agent_name, meta={"status": status, "summary": summary})
        if status == "no-change":
            db.conn.execute("UPDATE beads SET failure_reason = NULL WHERE id = ?", (bead_id,))
            unhook(db, agent, actor=agent_name, reason="done: no change")
            set_status(db, bead, BeadStatus.CLOSED, actor=agent_name, reason=summary)
            set_agent_status(db, agent, AgentStatus.IDLE, reason="done: no change")
        else:
            if status == "escalated":
                escalation = escalation_create(db, f"{agent_name} on {bead_id}: {summary}", severity="medium",
                                               source=agent_name, bead_id=bead_id, category="agent_escalated")
            holds.mark_held(db, bead_id, reason=f"{status} by {agent_name}: {summary}", actor=agent_name)
            holds.stop_hooked(db, bead_id, {"code": status, "source": "agent",
                                            "message": f"{status} by {agent_name}: {summary}"})
    result: dict[str, Any] = {**bead_get(db, bead_id), "done_status": status}
    if escalation is not None:
        result["escalation"] = escalation["id"]
    return result


def replay(db: Db, agent_name: str, status: str, since: str | None) -> dict[str, Any] | None:
    """The answer to a repeated `gt done --status X` of the same turn (the agent's client
    retries a call a daemon restart cut): the bead the first call finished, else None."""
    row = db.one(
        "SELECT bead_id FROM bead_events WHERE event_type = 'agent_done' AND actor = ? "
        "AND json_extract(metadata, '$.status') = ? AND created_at >= ? ORDER BY seq DESC LIMIT 1",
        (agent_name, status, since or ""))
    if row is None:
        return None
    return {**bead_get(db, row["bead_id"]), "done_status": status, "replayed": True}

