"""The Mayor: the town's planning agent a human chats with. A chat message is a `message`
bead to `mayor`; its answer is archived in the `human` mailbox."""

from __future__ import annotations

from gastown.daemon.store.agents import agent_create, agent_exists, agent_row, busy, set_agent_status
from gastown.daemon.store.beads import bead_create, bead_row
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.statuses import set_status
from gastown.model import AgentStatus, BeadStatus, BeadType
from gastown.protocol import ErrorCode, RpcError


def mayor_agent(db: Db, adapter: str) -> Row:
    """The town's one mayor, created on first use; its adapter follows mayor.adapter."""
    if not agent_exists(db, "mayor"):
        return agent_create(db, role="mayor", rig=None, adapter=adapter, name="mayor")
    if agent_row(db, "mayor")["adapter"] != adapter:
        with db.conn:
            db.conn.execute("UPDATE agents SET adapter = ? WHERE name = 'mayor'", (adapter,))
    return agent_row(db, "mayor")


def mayor_message(db: Db, text: str, *, human: str) -> Row:
    """A human's chat message to the mayor, recorded with who sent it; the mayor turns busy."""
    with db.conn:
        mayor = agent_row(db, "mayor")
        if busy(mayor):
            raise RpcError(ErrorCode.CONFLICT, "the mayor is still answering the previous message")
        msg = bead_create(db, text.strip().splitlines()[0][:200] if text.strip() else "(empty)",
                          type=BeadType.MESSAGE.value, body=text, created_by=human, requested_by=human,
                          metadata={"from": human, "to": "mayor", "kind": "chat"})
        db.conn.execute("UPDATE beads SET assignee = 'mayor' WHERE id = ?", (msg["id"],))
        set_agent_status(db, mayor, AgentStatus.STARTING, reason=f"message from {human}")
    return bead_row(db, msg["id"])


def mayor_requester(db: Db) -> str | None:
    """The human the mayor is serving: the sender of its latest chat message."""
    value = db.conn.execute(
        "SELECT requested_by FROM beads WHERE type = 'message' AND assignee = 'mayor' "
        "AND json_extract(metadata, '$.kind') = 'chat' ORDER BY created_at DESC, rowid DESC LIMIT 1").get
    return str(value) if value else None


def mayor_history(db: Db, limit: int = 50) -> list[Row]:
    rows = list(db.rows(
        "SELECT id FROM beads WHERE type = 'message' AND json_extract(metadata, '$.kind') IN ('chat', 'reply') "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)))
    return [bead_row(db, r["id"]) for r in reversed(rows)]


def mayor_reply(db: Db, text: str, *, to: str, thread: str | None) -> Row:
    """Archive the mayor's answer in the `human` mailbox, marked read (it was shown in the
    chat), with the human who asked as requested_by."""
    with db.conn:
        msg = bead_create(db, text.strip().splitlines()[0][:200] if text.strip() else "(no reply)",
                          type=BeadType.MESSAGE.value, body=text, created_by="mayor", requested_by=to,
                          metadata={"from": "mayor", "to": "human", "kind": "reply",
                                    **({"thread": thread} if thread else {})})
        db.conn.execute("UPDATE beads SET assignee = 'human' WHERE id = ?", (msg["id"],))
        set_status(db, bead_row(db, msg["id"]), BeadStatus.CLOSED, actor="mayor", reason="shown in chat")
    return bead_row(db, msg["id"])
