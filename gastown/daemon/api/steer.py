"""Steering by hand: hold/release/retry a bead, park/unpark a rig, pause/resume the town.

The store change commits first (intent before effect), then the turns it took work from
are stopped; the loop is woken so the new rule applies at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown.daemon.store import holds
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import Method


async def stop_turns(ctx: Ctx, town: Town, turns: list[dict[str, Any] | None]) -> None:
    loop = ctx.daemon.loops.get(town.name)
    if loop is None:
        return
    await asyncio.gather(*(asyncio.to_thread(loop.runtime.stop_turn, Path(t["turn_dir"]))
                           for t in turns if t and t.get("turn_dir")))


@rpc(Method.BEAD_HOLD)
async def hold(ctx: Ctx, town: Town, *, id: str, reason: str = "") -> dict[str, Any]:
    """Never dispatch the bead until released; a running turn on it stops, its work kept."""
    bead = await town.call(holds.hold, town.store, id, reason=reason, actor=ctx.conn.actor)
    await stop_turns(ctx, town, [bead.get("stopped_agent")])
    ctx.daemon.wake(town)
    return bead


@rpc(Method.BEAD_RELEASE)
async def release(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    bead = await town.call(holds.release, town.store, id, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return bead


@rpc(Method.BEAD_RETRY)
async def retry(ctx: Ctx, town: Town, *, id: str, reason: str = "") -> dict[str, Any]:
    """Dispatch now: the backoff and any hold are cleared; a failed bead reopens with the reason."""
    bead = await town.call(holds.retry, town.store, id, reason=reason, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return bead


@rpc(Method.RIG_PARK)
async def park(ctx: Ctx, town: Town, *, name: str, reason: str = "") -> dict[str, Any]:
    """No new dispatch and no merges on the rig; running turns finish."""
    state = await town.call(holds.park, town.store, name, reason=reason, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return state


@rpc(Method.RIG_UNPARK)
async def unpark(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    state = await town.call(holds.unpark, town.store, name, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return state


@rpc(Method.TOWN_PAUSE)
async def pause(ctx: Ctx, town: Town, *, reason: str = "") -> dict[str, Any]:
    """Stop every turn, keep all work, dispatch and merge nothing until resume."""
    state = await town.call(holds.pause, town.store, reason=reason, actor=ctx.conn.actor)
    await stop_turns(ctx, town, state["stopped"])
    ctx.daemon.wake(town)
    return {"id": town.name, **state}


@rpc(Method.TOWN_RESUME)
async def resume(ctx: Ctx, town: Town) -> dict[str, Any]:
    state = await town.call(holds.resume, town.store, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return {"id": town.name, **state}
