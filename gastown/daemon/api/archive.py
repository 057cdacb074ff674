"""`gt bead archive|unarchive`, `gt convoy add|remove` (members of a staged convoy)."""

from __future__ import annotations

from typing import Any

from gastown.daemon.store import archive
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import Method


@rpc(Method.BEAD_ARCHIVE)
async def archive_(ctx: Ctx, town: Town, *, ids: list[str]) -> list[dict[str, Any]]:
    """Closed or failed beads leave the board and default lists (all or none)."""
    return await town.call(archive.archive, town.store, list(ids), actor=ctx.conn.actor)


@rpc(Method.BEAD_UNARCHIVE)
async def unarchive(ctx: Ctx, town: Town, *, ids: list[str]) -> list[dict[str, Any]]:
    return await town.call(archive.unarchive, town.store, list(ids), actor=ctx.conn.actor)


@rpc(Method.CONVOY_ADD)
async def convoy_add(ctx: Ctx, town: Town, *, id: str, beads: list[str]) -> dict[str, Any]:
    return await town.call(archive.convoy_add, town.store, id, list(beads), actor=ctx.conn.actor)


@rpc(Method.CONVOY_REMOVE)
async def convoy_remove(ctx: Ctx, town: Town, *, id: str, beads: list[str]) -> dict[str, Any]:
    return await town.call(archive.convoy_remove, town.store, id, list(beads), actor=ctx.conn.actor)
