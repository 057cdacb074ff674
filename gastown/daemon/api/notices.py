"""`town.notices`: what every interactive `gt` command tells the human in one line each:
settings files that do not check out (a hand edit), and work parked on `gastown/<branch>`."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon import parked
from gastown.daemon.context import Ctx
from gastown.daemon.rpc import rpc
from gastown.daemon.towns import Town
from gastown.protocol import Method


@rpc(Method.TOWN_NOTICES)
async def notices(ctx: Ctx, town: Town) -> dict[str, Any]:
    rigs = await town.call(town.store.rig_list)
    problems = await asyncio.to_thread(town.config_problems, [r["name"] for r in rigs])
    waiting = await asyncio.gather(*(asyncio.to_thread(parked.waiting, r) for r in rigs))
    return {"id": town.name, "config_problems": problems, "parked": [w for w in waiting if w]}


@rpc(Method.RIG_SYNC)
async def sync(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    """Bring merged work parked on `gastown/<branch>` into the user's checkout (clean only)."""
    rig = await town.call(town.store.rig_get, name)
    result = await asyncio.to_thread(parked.sync, rig)
    if result["synced"]:
        await town.call(parked.record_sync, town.store, result, ctx.conn.actor)
    ctx.daemon.wake(town)
    return result
