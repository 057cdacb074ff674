"""`gt sling`: create (or take) an issue bead for a rig and let the scheduler dispatch it
when it is ready. Assignment is lazy: nothing is hooked at sling time."""

from __future__ import annotations

from typing import Any

from gastown.daemon import adapters
from gastown.daemon.context import Ctx
from gastown.daemon.rpc import rpc
from gastown.daemon.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


@rpc(Method.SLING)
async def sling(
    ctx: Ctx, town: Town, *, rig: str, title: str | None = None, bead: str | None = None, body: str = "",
    depends_on: list[str] | None = None, agent: str | None = None, script: list[str] | None = None,
    priority: int = 2, requested_by: str | None = None,
) -> dict[str, Any]:
    from gastown.daemon.api.convoy import requester

    requested_by = await requester(ctx, town, requested_by)
    if (title is None) == (bead is None):
        raise RpcError(ErrorCode.INVALID_PARAMS, "sling takes a title or an existing bead id")
    if agent is not None:
        adapters.get(agent)
    meta: dict[str, Any] = {}
    if agent:
        meta["agent"] = agent
    if script:
        meta["script"] = script
    store = town.store

    def run() -> dict[str, Any]:
        with store.conn:
            result = sling_in_txn()
        return result

    def sling_in_txn() -> dict[str, Any]:
        nonlocal bead
        if title is not None and bead is None and store._exists(title.strip().lower()):
            bead = title.strip().lower()  # `gt sling BEAD_ID`: only an exact, full id counts
        if bead is not None:
            existing = store.bead_get(bead)
            if existing["type"] != "issue" or existing["status"] != "open" or existing["assignee"]:
                raise RpcError(ErrorCode.INVALID_STATE,
                               f"bead {existing['id']} is a {existing['status']} {existing['type']}; "
                               "only an open, unassigned issue can be slung")
            store.rig_get(rig)
            updated = store.bead_update(existing["id"], actor=ctx.conn.actor, rig=rig, metadata=meta or None)
            for dep in depends_on or []:
                store.dep_add(updated["id"], dep, actor=ctx.conn.actor)
            return store.bead_get(updated["id"])
        assert title is not None
        store.rig_get(rig)
        return store.bead_create(title, rig=rig, body=body, priority=priority, metadata=meta or None,
                                 created_by=ctx.conn.actor, requested_by=requested_by or ctx.conn.actor,
                                 depends_on=depends_on or [])

    result = await town.call(run)
    ctx.daemon.wake(town)
    return result


@rpc(Method.MQ_LIST)
async def mq_list(ctx: Ctx, town: Town, *, status: str | None = None, rig: str | None = None) -> list[dict[str, Any]]:
    return await town.call(town.store.merge_requests, status=status, rig=rig)


@rpc(Method.MQ_SHOW)
async def mq_show(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    return await town.call(town.store.mr_get, id)


@rpc(Method.MQ_RETRY)
async def mq_retry(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    mr = await town.call(town.store.mq_retry, id, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return mr
