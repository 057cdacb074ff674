"""`gt sling`: create (or take) an issue bead for a rig and let the scheduler dispatch it
when it is ready. Assignment is lazy: nothing is hooked at sling time."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from gastown.daemon import adapters
from gastown.daemon.store import ids
from gastown.daemon.alarm import library
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


@rpc(Method.SLING)
async def sling(
    ctx: Ctx, town: Town, *, rig: str | None = None, title: str | None = None, bead: str | None = None, body: str = "",
    depends_on: list[str] | None = None, agent: str | None = None, script: list[str] | None = None,
    priority: int = 2, requested_by: str | None = None, persona: str | None = None,
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
    persona = persona or town.text("agent.persona", rig) or None
    if persona:  # a persona's adapter, model, instructions and turn limit travel with the bead
        rig_row = await town.call(store.rig_get, rig) if rig else None
        found = await asyncio.to_thread(library.personas, town, rig_row)
        if persona not in found:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown persona '{persona}' (try `gt persona list`)")
        meta = {**library.snapshot(found[persona]), **meta}
    _check_agent(town, rig if rig and not bead else None, agent or meta.get("agent"))

    def run() -> dict[str, Any]:
        with store.transaction():
            result = sling_in_txn()
        return result

    def sling_in_txn() -> dict[str, Any]:
        nonlocal bead
        if title is not None and bead is None and store.bead_exists(title.strip().lower()):
            bead = title.strip().lower()  # `gt sling BEAD_ID`: only an exact, full id counts
        if title is not None and bead is None and looks_like_id(title, store.prefix):
            raise RpcError(ErrorCode.NOT_FOUND, f"no bead '{title.strip()}' in this town (see 'gt bead list'); "
                           "to sling new work, give it a title in words")
        if bead is not None:
            existing = store.bead_get(bead)
            if existing["type"] != "issue" or existing["status"] != "open" or existing["assignee"]:
                raise RpcError(ErrorCode.INVALID_STATE,
                               f"bead {existing['id']} is a {existing['status']} {existing['type']}; "
                               "only an open, unassigned issue can be slung")
            target = rig or existing["rig"] or only_rig(store)
            store.rig_get(target)
            updated = store.bead_update(existing["id"], actor=ctx.conn.actor, rig=target, metadata=meta or None)
            for dep in depends_on or []:
                store.dep_add(updated["id"], dep, actor=ctx.conn.actor)
            return store.bead_get(updated["id"])
        assert title is not None
        target = rig or only_rig(store)
        store.rig_get(target)
        return store.bead_create(title, rig=target, body=body, priority=priority, metadata=meta or None,
                                 created_by=ctx.conn.actor, requested_by=requested_by or ctx.conn.actor,
                                 depends_on=depends_on or [])

    result = await town.call(run)
    ctx.daemon.wake(town)
    from gastown.daemon.vcs import gates

    opted_out = bool(await town.call(town.store.patrol_get, gates.opt_out_key(result["rig"])))
    warning = gates.ungated_warning(result["rig"], *town.config("refinery.gates", result["rig"]), opted_out)
    return {**result, "warnings": [warning]} if warning else result


def _check_agent(town: Town, rig: str | None, agent: str | None) -> None:
    """Refuse work no agent could do here, before a bead exists (not as a crash later)."""
    from gastown.daemon.adapters import agentpick

    agentpick.usable(agent or town.text("agent.adapter", rig))


def looks_like_id(text: str, prefix: str) -> bool:
    """`appt-zzz` in a town whose prefix is `appt`: a mistyped id, not a title."""
    return re.fullmatch(rf"{re.escape(prefix)}-[0-9a-z]{{{ids.MIN_LEN},{ids.MAX_LEN}}}(\.[0-9]+)*",
                        text.strip().lower()) is not None


def only_rig(store: Any) -> str:
    """The rig when the town has exactly one; otherwise say which to choose from."""
    rigs = [r["name"] for r in store.rig_list()]
    if len(rigs) == 1:
        return str(rigs[0])
    if not rigs:
        raise RpcError(ErrorCode.INVALID_STATE, "this town has no rig yet: add one with 'gt rig add NAME PATH'")
    raise RpcError(ErrorCode.INVALID_PARAMS, f"this town has {len(rigs)} rigs ({', '.join(rigs)}): pass --rig")


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
