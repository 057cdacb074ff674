"""The mayor: `gt mayor ask|chat`. A message starts a mayor turn that resumes its native
session; the reply is read (and streamed) from the turn's output by the mayor's adapter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown import runner
from gastown.daemon import adapters
from gastown.daemon.alarm import prompts, turns
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


def mayor_adapter(town: Town) -> str:
    from gastown.daemon.adapters import agentpick

    adapter = town.text("mayor.adapter") or town.text("agent.adapter")
    agentpick.usable(adapter)  # no agent: refused with the reason and the hint, not a crash
    return adapter


@rpc(Method.MAYOR_SEND)
async def send(ctx: Ctx, town: Town, *, message: str, human: str | None = None,
               context: str | None = None) -> dict[str, Any]:
    """Start the mayor's turn on this message; poll `mayor.reply` for the answer. `context`
    (from the dashboard: what the human has selected) goes into the prompt, not the message."""
    if not message.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, "an empty message")
    who = human or ctx.conn.actor or "human"
    store = town.store
    agent = await town.call(store.mayor_agent, mayor_adapter(town))
    msg = await town.call(store.mayor_message, message, human=who)
    agent = await town.call(store.agent_get, "mayor")
    loop = ctx.daemon.loops.get(town.name)
    if loop is None:
        raise RpcError(ErrorCode.UNAVAILABLE, f"town {town.name} is not running")
    preamble, mail_ids, nudge_ids = await loop.inbox_for("mayor")
    brief = ""
    if not agent["session_id"]:  # a new conversation: the role brief goes first, once
        rigs = [r["name"] for r in await town.call(store.rig_list)]
        brief = prompts.mayor(town=town.name, rigs=rigs) + "\n"
    prompt = f"{brief}{preamble}Message from {who}:\n{message}"
    if context and context.strip():
        prompt += f"\n\n(They are looking at {context.strip()[:2000]} in the dashboard.)"
    try:
        started = await asyncio.to_thread(loop.starter.start_mayor, agent, msg, prompt)
    except Exception as exc:
        await town.call(store.dispatch_failed, "mayor", turns.failure_from(exc))
        raise RpcError(ErrorCode.EXTERNAL, f"the mayor could not start: {turns.failure_from(exc)['message']}") from None
    await town.call(store.turn_started, "mayor", **started)
    await town.call(store.mark_delivered, "mayor", mail_ids, nudge_ids)
    return {"id": msg["id"], "status": "sent", "turn_dir": started["turn_dir"], "resumed": bool(agent["session_id"])}


@rpc(Method.MAYOR_REPLY)
async def reply(ctx: Ctx, town: Town) -> dict[str, Any]:
    """The mayor's answer so far (the whole text each time) and whether its turn is over."""
    agent = await town.call(town.store.agent_get, "mayor")
    if not agent["turn_dir"]:
        return {"id": "mayor", "status": "idle", "text": "", "done": True}
    path = Path(agent["turn_dir"])
    output = await asyncio.to_thread(turns.read_output, str(path))
    # done only once the daemon has recorded the turn's end, so the next message is accepted
    done = bool(agent["turn_ended_at"])
    if not done and not await asyncio.to_thread(runner.is_running, path):
        ctx.daemon.wake(town)  # the process is gone: let the loop record it now
    status = runner.read_status(path) or {}
    text = adapters.get(agent["adapter"]).reply_text(output)
    return {"id": "mayor", "status": agent["status"], "text": text, "done": done,
            "exit_code": status.get("exit_code"), "session_id": agent["session_id"]}


@rpc(Method.MAYOR_HISTORY)
async def history(ctx: Ctx, town: Town, *, limit: int = 50) -> list[dict[str, Any]]:
    """The conversation, oldest first: humans' messages (from any client) and the mayor's replies."""
    return await town.call(town.store.mayor_history, max(1, min(int(limit), 500)))
