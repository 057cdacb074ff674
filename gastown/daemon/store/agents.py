"""Agents: beads of type `agent` with a row in `agents`. Every agent status change goes
through `set_agent_status`, which checks the state machine and writes the event, the same
way bead statuses go through `statuses.set_status`. What is on an agent's hook changes only
through `hooks.hook`/`hooks.unhook`."""

from __future__ import annotations

import json

from gastown.daemon.rules.reconciler import effective_status
from gastown.daemon.store.beads import bead_create, bead_row
from gastown.daemon.store.db import Db, Row, not_found
from gastown.model import AgentStatus, BeadType, EventType, Role, agent_transition_allowed
from gastown.protocol import ErrorCode, RpcError

NAME_POOL = ("toast", "maple", "birch", "cedar", "fern", "hazel", "juniper", "larch", "moss", "nettle",
             "olive", "pine", "quince", "rowan", "sage", "thistle", "umber", "willow", "yarrow", "zinnia")


def _decode(row: Row) -> Row:
    row["restarts"] = json.loads(row["restarts"])
    return row


def agent_row(db: Db, name: str) -> Row:
    """The agent's row as stored (the hooked bead as an id)."""
    row = db.one("SELECT * FROM agents WHERE name = ?", (name,))
    if row is None:
        raise not_found("agent", name)
    return _decode(row)


def agent_exists(db: Db, name: str) -> bool:
    return db.conn.execute("SELECT 1 FROM agents WHERE name = ?", (name,)).get is not None


def agent_get(db: Db, name: str) -> Row:
    agent = agent_row(db, name)
    agent["id"] = agent["name"]
    agent["hook"] = bead_row(db, agent["hook_bead_id"]) if agent["hook_bead_id"] else None
    return agent


def agent_list(db: Db, *, rig: str | None = None, role: str | None = None) -> list[Row]:
    where, args = [], []
    if rig:
        where.append("rig = ?")
        args.append(rig)
    if role:
        where.append("role = ?")
        args.append(role)
    sql = "SELECT * FROM agents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at"
    return [{**_decode(row), "id": row["name"]} for row in db.rows(sql, args)]


def agent_by_token(db: Db, token_hash: str) -> Row | None:
    row = db.one("SELECT * FROM agents WHERE token_hash = ?", (token_hash,))
    return _decode(row) if row is not None else None


def token_live(db: Db, agent_name: str, token_hash: str) -> bool:
    """The token is still this agent's and its turn has not ended: checked on every
    request of an agent connection (a primary-key read), so a token dies with its turn
    even on a connection opened while the turn was live."""
    row = db.one("SELECT token_hash, turn_ended_at FROM agents WHERE name = ?", (agent_name,))
    return row is not None and row["token_hash"] == token_hash and not row["turn_ended_at"]


def agent_on(db: Db, bead_id: str) -> Row | None:
    """The agent whose hook holds this bead, if any."""
    row = db.one("SELECT name FROM agents WHERE hook_bead_id = ?", (bead_id,))
    return agent_row(db, row["name"]) if row else None


def _next_name(db: Db) -> str:
    taken = {r[0] for r in db.conn.execute("SELECT name FROM agents")}
    for name in NAME_POOL:
        if name not in taken:
            return name
    n = 1
    while f"polecat-{n}" in taken:
        n += 1
    return f"polecat-{n}"


def agent_create(db: Db, *, role: str, rig: str | None, adapter: str, name: str | None = None) -> Row:
    Role(role)
    name = name or _next_name(db)
    with db.conn:
        if agent_exists(db, name):
            raise RpcError(ErrorCode.ALREADY_EXISTS, f"agent '{name}' already exists")
        bead = bead_create(db, name, type=BeadType.AGENT.value, rig=rig, created_by="system", metadata={"role": role})
        db.conn.execute(
            "INSERT INTO agents(bead_id, name, role, rig, adapter, status, created_at) VALUES (?, ?, ?, ?, ?, 'idle', ?)",
            (bead["id"], name, role, rig, adapter, db.now()),
        )
    return agent_row(db, name)


def named_agent(db: Db, name: str, *, role: str, rig: str | None, adapter: str) -> Row:
    """A town's singleton agent (the rig's refinery, the mayor, triage), created on first use."""
    if not agent_exists(db, name):
        return agent_create(db, role=role, rig=rig, adapter=adapter, name=name)
    return agent_row(db, name)


def set_agent_status(db: Db, agent: Row, new: AgentStatus, *, reason: str | None = None,
                     actor: str | None = "system") -> None:
    """The one place an agent's status changes; writes the agent_status event."""
    old = AgentStatus(agent["status"])
    if old == new:
        return
    if not agent_transition_allowed(old, new):
        raise RpcError(ErrorCode.CONFLICT, f"agent {agent['name']} is {old.value}; cannot become {new.value}")
    db.conn.execute("UPDATE agents SET status = ?, last_activity_at = ? WHERE name = ?",
                    (new.value, db.now(), agent["name"]))
    db.event(agent["bead_id"], EventType.AGENT_STATUS, actor=actor, old=old.value, new=new.value,
             meta={"agent": agent["name"], **({"reason": reason} if reason else {})})
    agent["status"] = new.value


def agent_set_adapter(db: Db, agent_name: str, adapter: str) -> None:
    """An idle agent's next turns use another agent CLI (its persona changed)."""
    with db.conn:
        agent = agent_row(db, agent_name)
        db.conn.execute("UPDATE agents SET adapter = ?, session_id = NULL WHERE name = ?", (adapter, agent_name))
        db.event(agent["bead_id"], EventType.AGENT_ADAPTER, actor="system", old=agent["adapter"], new=adapter)


def agent_status_message(db: Db, agent_name: str, message: str) -> None:
    """`gt status`: the agent's own words about what it is doing."""
    with db.conn:
        agent = agent_row(db, agent_name)
        now = db.now()
        db.conn.execute("UPDATE agents SET status_message = ?, status_at = ?, last_activity_at = ? "
                        "WHERE name = ?", (message, now, now, agent_name))
        db.event(agent["bead_id"], EventType.AGENT_STATUS_MESSAGE, actor=agent_name, new=message,
                 meta={"agent": agent_name, "bead": agent["hook_bead_id"]})


def busy(agent: Row) -> bool:
    """Not free for a new turn: not idle, or idle with its last turn still running (a mayor
    or triage answering); the rule is the reconciler's."""
    return effective_status(agent) != AgentStatus.IDLE.value
