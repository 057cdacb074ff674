"""Mail, nudges and escalations. Agents use mail through their socket (their mailbox is
their name); humans read the `human` mailbox unless they name another."""

from __future__ import annotations

from typing import Any

from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


def _sender(ctx: Ctx) -> str:
    return ctx.conn.agent or "human"


@rpc(Method.MAIL_SEND)
async def mail_send(ctx: Ctx, town: Town, *, to: str, subject: str, body: str = "",
                    thread: str | None = None) -> list[dict[str, Any]]:
    sent = await town.call(_send_or_redirect, town.store, to, subject, body, _sender(ctx), thread,
                           bool(ctx.conn.agent) and ctx.conn.agent != "mayor")
    ctx.daemon.wake(town)
    return sent


def _send_or_redirect(store: Any, to: str, subject: str, body: str, sender: str, thread: str | None,
                      redirect: bool) -> list[dict[str, Any]]:
    """An agent's mail to an unknown or stopped agent goes to the mayor with a note instead of
    being lost (a human at a terminal gets the NOT_FOUND error and can fix the name)."""
    stopped = store.agent_exists(to.strip()) and store.agent_row(to.strip())["status"] == "stopped"
    gone = stopped
    if redirect and not gone:
        try:
            return list(store.mail_send(to, subject, body, sender=sender, thread=thread))
        except RpcError as exc:
            if exc.code != ErrorCode.NOT_FOUND:
                raise
            gone = True
    if redirect and gone:
        why = "is stopped" if stopped else "is no mailbox in this town"
        note = f"[redirected: {sender} wrote to '{to}', which {why}]\n\n"
        return list(store.mail_send("mayor", subject, note + body, sender=sender, thread=thread))
    return list(store.mail_send(to, subject, body, sender=sender, thread=thread))


@rpc(Method.MAIL_INBOX)
async def mail_inbox(ctx: Ctx, town: Town, *, box: str | None = None, unread: bool = False) -> list[dict[str, Any]]:
    if ctx.conn.agent and box not in (None, ctx.conn.agent):
        raise RpcError(ErrorCode.FORBIDDEN, "an agent reads only its own mailbox")
    return await town.call(town.store.mail_inbox, ctx.conn.agent or box or "human", unread=unread)


@rpc(Method.MAIL_READ)
async def mail_read(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    msg = await town.call(town.store.bead_get, id)
    if ctx.conn.agent and msg.get("assignee") != ctx.conn.agent:
        raise RpcError(ErrorCode.FORBIDDEN, f"{msg['id']} is not in your mailbox")
    return await town.call(town.store.mail_read, id, reader=_sender(ctx))


@rpc(Method.AGENT_NUDGE)
async def nudge(ctx: Ctx, town: Town, *, name: str, message: str, mode: str = "wait-idle",
                ttl_minutes: float | None = None) -> dict[str, Any]:
    ttl = ttl_minutes if ttl_minutes is not None else town.number("nudge.ttl_minutes")
    result = await town.call(town.store.nudge, name, message, mode=mode, source=ctx.conn.actor, ttl_minutes=ttl)
    ctx.daemon.wake(town)
    return result


@rpc(Method.ESCALATION_CREATE)
async def escalation_create(ctx: Ctx, town: Town, *, message: str, severity: str = "medium",
                            bead: str | None = None) -> dict[str, Any]:
    bead_id = (await town.call(town.store.resolve, bead)) if bead else None
    return await town.call(town.store.escalation_create, message, severity=severity, source=ctx.conn.actor,
                           bead_id=bead_id)


@rpc(Method.ESCALATION_LIST)
async def escalation_list(ctx: Ctx, town: Town, *, all: bool = False) -> list[dict[str, Any]]:
    return await town.call(town.store.escalation_list, all_=all)


@rpc(Method.ESCALATION_ACK)
async def escalation_ack(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    return await town.call(town.store.escalation_ack, id, actor=ctx.conn.actor)
