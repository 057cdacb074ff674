"""An agent's hook: the one bead it is working on. `hook` and `unhook` are the only writers
of `agents.hook_bead_id`, and each always writes its event (`hooked`/`unhooked`), so the
audit log, the feed and the dashboard see every change of what an agent holds."""

from __future__ import annotations

from typing import Any

from gastown.daemon.store.agents import agent_row
from gastown.daemon.store.beads import bead_row
from gastown.daemon.store.db import Db, Row
from gastown.model import EventType
from gastown.protocol import ErrorCode, RpcError


def hook(db: Db, agent: Row, bead_id: str, *, actor: str | None = "system", why: str | None = None) -> None:
    """Put `bead_id` on the agent's hook (also its last bead); the caller holds the transaction."""
    db.conn.execute("UPDATE agents SET hook_bead_id = ?, last_bead_id = ? WHERE name = ?",
                    (bead_id, bead_id, agent["name"]))
    db.event(bead_id, EventType.HOOKED, actor=actor, new=agent["name"], meta={"reason": why} if why else None)
    agent["hook_bead_id"] = bead_id
    agent["last_bead_id"] = bead_id


def unhook(db: Db, agent: Row, *, actor: str | None = "system", reason: str,
           failure: dict[str, Any] | None = None) -> str | None:
    """Clear the agent's hook, with the `unhooked` event on the bead it held (why, and the
    failure when the bead is given back because an attempt failed). Returns that bead id;
    an empty hook is left alone. The caller holds the transaction."""
    bead_id: str | None = agent["hook_bead_id"]
    if not bead_id:
        return None
    db.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent["name"],))
    meta: dict[str, Any] = {"reason": reason}
    if failure is not None:
        meta["failure_reason"] = failure
    db.event(bead_id, EventType.UNHOOKED, actor=actor, old=agent["name"], meta=meta)
    agent["hook_bead_id"] = None
    return bead_id


def on_hook(db: Db, agent_name: str) -> tuple[Row, Row]:
    """The agent and the bead on its hook, for the verbs only a hooked agent may call (`gt done`
    in all its forms); nothing on the hook is the caller's mistake, said in one line."""
    agent = agent_row(db, agent_name)
    if not agent["hook_bead_id"]:
        raise RpcError(ErrorCode.INVALID_STATE, f"agent {agent_name} has nothing on its hook")
    return agent, bead_row(db, agent["hook_bead_id"])
