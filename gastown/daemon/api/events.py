"""Event subscriptions: replay from a sequence number, then live."""

from __future__ import annotations

from typing import Any

from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import Method


@rpc(Method.EVENTS_SUBSCRIBE)
async def subscribe(ctx: Ctx, town: Town, *, since: int | None = None) -> dict[str, Any]:
    """Events with seq > since (default: only new ones) arrive as `event` notifications."""
    start = town.store.last_seq if since is None else max(0, since)
    ctx.daemon.hub.subscribe(town, ctx.conn, start)
    return {"town": town.name, "since": start, "seq": town.store.last_seq}


@rpc(Method.EVENTS_UNSUBSCRIBE)
async def unsubscribe(ctx: Ctx, town: Town) -> dict[str, Any]:
    return {"town": town.name, "unsubscribed": ctx.daemon.hub.unsubscribe(town.name, ctx.conn)}
