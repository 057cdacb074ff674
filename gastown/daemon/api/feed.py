"""`town.feed`: the town's recent activity (bead events, oldest first) for `gt feed` and
the dashboard's activity panes, which load it before going live."""

from __future__ import annotations

from typing import Any

from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError

FEED_MAX = 2000


@rpc(Method.TOWN_FEED)
async def feed(ctx: Ctx, town: Town, *, since: str | None = None, after: int = 0, limit: int = 200) -> dict[str, Any]:
    """Recent events (see Store.feed) and `seq`, the last one returned (poll with `after=seq`
    to follow)."""
    if limit < 1 or limit > FEED_MAX:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"limit must be 1-{FEED_MAX}")
    rows = await town.call(town.store.feed, since, max(0, after), limit)
    return {"town": town.name, "events": rows, "seq": rows[-1]["seq"] if rows else max(0, after)}


@rpc(Method.TOWN_GLANCE)
async def glance(ctx: Ctx, town: Town) -> dict[str, Any]:
    """The town at a glance (gastown.daemon.edge.glance): working, needs you, retrying."""
    from gastown.daemon.edge import glance as g

    return {"town": town.name, **await town.call(g.glance, town.store, town.config)}
