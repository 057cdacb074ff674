"""`forge.check`: can each rig on the pr strategy reach its forge with a working token?
Used by `gt doctor`, and by `gt config set refinery.strategy pr` before it takes effect."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon.alarm import pullrequests
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import Method


async def check_rigs(town: Town, rig: str | None = None, *, all_rigs: bool = False) -> list[dict[str, Any]]:
    """One row per rig (on the pr strategy, unless all_rigs): {check, ok, detail}."""
    rigs = [await town.call(town.store.rig_get, rig)] if rig else await town.call(town.store.rig_list)
    rows = []
    for r in rigs:
        if not all_rigs and town.text("refinery.strategy", r["name"]) != "pr":
            continue
        result = await asyncio.to_thread(pullrequests.check, town, r)
        rows.append({"check": f"forge {town.name}/{r['name']}", "rig": r["name"], **result})
    return rows


@rpc(Method.FORGE_CHECK)
async def forge_check(ctx: Ctx, town: Town, *, rig: str | None = None) -> list[dict[str, Any]]:
    return await check_rigs(town, rig, all_rigs=rig is not None)
