"""Convoys: `gt sling --batch`, `gt convoy list|show|start|close`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown.daemon.store import convoyplan
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import Method


async def requester(ctx: Ctx, town: Town, given: str | None) -> str | None:
    """Whom the work is for: the human the mayor is serving, else who asked."""
    if ctx.conn.role == "mayor":
        return await town.call(town.store.mayor_requester) or given or ctx.conn.actor
    return given or ctx.conn.actor


@rpc(Method.CONVOY_CREATE)
async def create(ctx: Ctx, town: Town, *, plan: str, staged: bool = False, rig: str | None = None,
                 requested_by: str | None = None) -> dict[str, Any]:
    parsed = convoyplan.parse_plan(plan)
    if rig and not parsed.get("rig"):
        parsed["rig"] = rig
    who = await requester(ctx, town, requested_by)
    convoy = await town.call(town.store.convoy_create, parsed, staged=staged, actor=ctx.conn.actor, requested_by=who)
    ctx.daemon.wake(town)
    return convoy


@rpc(Method.CONVOY_LIST)
async def list_(ctx: Ctx, town: Town) -> list[dict[str, Any]]:
    return await town.call(town.store.convoy_list)


@rpc(Method.CONVOY_SHOW)
async def show(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    return await town.call(town.store.convoy_get, id)


@rpc(Method.CONVOY_START)
async def start(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    convoy = await town.call(town.store.convoy_start, id, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return convoy


@rpc(Method.CONVOY_CLOSE)
async def close(ctx: Ctx, town: Town, *, id: str, reason: str = "closed by hand") -> dict[str, Any]:
    """Force-close: unfinished members close and their agents' turns are stopped."""
    before = {a["name"]: a for a in await town.call(town.store.agent_list)}
    convoy, agents = await town.call(town.store.convoy_close, id, actor=ctx.conn.actor, reason=reason)
    loop = ctx.daemon.loops.get(town.name)
    for name in agents:
        agent = before.get(name)
        if loop is not None and agent and agent["turn_dir"] and not agent["turn_ended_at"]:
            await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]), 5.0)
    return convoy


@rpc(Method.CONVOY_DIFF)
async def diff(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    """What a convoy changed: each member's commits and diffstat (see bead.diff) and the sums."""
    from gastown.daemon.edge import diffs

    convoy = await town.call(town.store.convoy_get, id)
    members = []
    for member in convoy["members"]:
        where = await town.call(diffs.locate, town.store, member["id"])
        one = (await asyncio.to_thread(diffs.bead_diff, where, 1, False) if where
               else {"id": member["id"], "available": False, "reason": "no branch yet (not dispatched)"})
        members.append({**one, "title": member["title"], "status": member["status"]})
    ok = [m for m in members if m.get("available")]
    return {"id": convoy["id"], "title": convoy["title"], "members": members,
            "commits": sum(len(m["commits"]) for m in ok), "files": sum(m["files"] for m in ok),
            "insertions": sum(m["insertions"] for m in ok), "deletions": sum(m["deletions"] for m in ok)}
