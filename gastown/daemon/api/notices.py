"""`town.notices`: what every interactive `gt` command tells the human in one line each:
settings files that do not check out (a hand edit), and work parked on `gastown/<branch>`."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon.context import Ctx
from gastown.daemon.rpc import rpc
from gastown.daemon.towns import Town
from gastown.protocol import Method


@rpc(Method.TOWN_NOTICES)
async def notices(ctx: Ctx, town: Town) -> dict[str, Any]:
    rigs = [r["name"] for r in await town.call(town.store.rig_list)]
    problems = await asyncio.to_thread(town.config_problems, rigs)
    return {"id": town.name, "config_problems": problems}
