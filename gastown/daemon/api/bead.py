"""Beads: create, read, update, status verbs, dependencies and the ready list."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon.rules import retries
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.model import BeadStatus
from gastown.protocol import ErrorCode, Method, RpcError


@rpc(Method.BEAD_CREATE)
async def create(
    ctx: Ctx, town: Town, *, title: str, type: str = "issue", body: str = "", rig: str | None = None,
    parent: str | None = None, priority: int = 2, labels: list[str] | None = None,
    metadata: dict[str, Any] | None = None, depends_on: list[str] | None = None,
    requested_by: str | None = None,
) -> dict[str, Any]:
    _check_enum("type", type, ("issue", "message", "merge_request", "convoy", "escalation", "molecule", "agent"))
    return await town.call(
        town.store.bead_create, title, type=type, body=body, rig=rig, parent=parent, priority=priority,
        labels=labels or [], metadata=metadata, created_by=ctx.conn.actor,
        requested_by=requested_by or ctx.conn.actor, depends_on=depends_on or [],
    )


@rpc(Method.BEAD_LIST)
async def list_(
    ctx: Ctx, town: Town, *, status: str | None = None, type: str | None = None, rig: str | None = None,
    label: str | None = None, assignee: str | None = None, parent: str | None = None, limit: int = 200,
    offset: int = 0, newest_first: bool = False, text: str | None = None, brief: bool = False,
    archived: bool = False,
) -> list[dict[str, Any]]:
    if status is not None:
        _check_enum("status", status, [s.value for s in BeadStatus])
    return await town.call(town.store.bead_list, status=status, type=type, rig=rig, label=label,
                           assignee=assignee, parent=parent, limit=limit, offset=offset,
                           newest_first=newest_first, text=text, brief=brief, archived=archived)


@rpc(Method.BEAD_DIFF)
async def diff(ctx: Ctx, town: Town, *, id: str, max_bytes: int = 200_000, text: bool = True) -> dict[str, Any]:
    """A bead's commits, diffstat and diff (capped): the branch against its base while in
    progress, the merge against its first parent once merged (`state`). `text=False`
    leaves out the diff itself (commits and stat only)."""
    from gastown.daemon.edge import diffs

    where = await town.call(diffs.locate, town.store, id)
    if where is None:
        return {"id": id, "available": False, "reason": "no branch yet (not dispatched)"}
    return await asyncio.to_thread(diffs.bead_diff, where, max_bytes, text)


@rpc(Method.BEAD_SHOW)
async def show(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    bead = town.reader.bead_get(id)  # committed state, read on the loop thread (see Town.reader)
    return retries.annotate(bead, town.config)


@rpc(Method.BEAD_EVENTS)
async def events(ctx: Ctx, town: Town, *, id: str) -> list[dict[str, Any]]:
    return await town.call(town.store.bead_events, id)


@rpc(Method.BEAD_UPDATE)
async def update(
    ctx: Ctx, town: Town, *, id: str, title: str | None = None, body: str | None = None,
    priority: int | None = None, rig: str | None = None, assignee: str | None = None,
    add_labels: list[str] | None = None, remove_labels: list[str] | None = None,
    metadata: dict[str, Any] | None = None, status: str | None = None,
) -> dict[str, Any]:
    if status in ("closed", "failed"):  # terminal statuses have their own verbs (and checks)
        raise RpcError(ErrorCode.INVALID_PARAMS, f"'{status}' is a terminal status: use 'gt bead close {id} "
                       "--reason ...' instead of update")

    def run() -> dict[str, Any]:
        store = town.store
        with store.transaction():  # one transaction: fields and status change together or not at all
            bead = store.bead_update(id, actor=ctx.conn.actor, title=title, body=body, priority=priority,
                                     rig=rig, assignee=assignee, add_labels=add_labels or [],
                                     remove_labels=remove_labels or [], metadata=metadata)
            if status is not None:
                _check_enum("status", status, [s.value for s in BeadStatus])
                bead = store.transition(bead["id"], status, actor=ctx.conn.actor)
        return bead
    return await town.call(run)


@rpc(Method.BEAD_CLOSE)
async def close(ctx: Ctx, town: Town, *, id: str, reason: str | None = None) -> dict[str, Any]:
    return await town.call(town.store.bead_close, id, actor=ctx.conn.actor, reason=reason)


@rpc(Method.BEAD_REOPEN)
async def reopen(ctx: Ctx, town: Town, *, id: str, reason: str) -> dict[str, Any]:
    return await town.call(town.store.bead_reopen, id, reason=reason, actor=ctx.conn.actor)


@rpc(Method.DEP_ADD)
async def dep_add(ctx: Ctx, town: Town, *, id: str, depends_on: str, type: str = "blocks") -> dict[str, Any]:
    _check_enum("type", type, ("blocks", "parent-child", "tracks"))
    return await town.call(town.store.dep_add, id, depends_on, type=type, actor=ctx.conn.actor)


@rpc(Method.DEP_REMOVE)
async def dep_remove(ctx: Ctx, town: Town, *, id: str, depends_on: str) -> dict[str, Any]:
    return await town.call(town.store.dep_remove, id, depends_on, actor=ctx.conn.actor)


@rpc(Method.READY)
async def ready(ctx: Ctx, town: Town, *, rig: str | None = None, limit: int = 100,
                explain: bool = False) -> list[dict[str, Any]]:
    if rig is not None:
        await town.call(town.store.rig_get, rig)
    if not explain:  # a bead waiting out its retry backoff is not ready yet
        rows = await town.call(town.store.ready, rig=rig, limit=limit)
        return [b for b in rows if not (retries.annotate(b, town.config).get("retry") or {}).get("waiting")]
    rows = await town.call(town.store.ready_explain, rig=rig, limit=limit)
    backoff = await town.call(town.store.bead_list, status="open", type="issue", rig=rig, limit=10_000)
    blocked = {b["id"] for b in rows}
    for b in backoff:
        state = (retries.annotate(b, town.config).get("retry") or {})
        if state.get("waiting") and b["id"] not in blocked:
            b["blocked_by"] = [{"id": b["id"], "kind": "backoff", "message": retries.describe(state)}]
            rows.append(b)
    return rows


def _check_enum(name: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"invalid {name} '{value}': use one of {', '.join(allowed)}")
