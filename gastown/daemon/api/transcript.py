"""Turn transcripts: one agent turn's events (`agent.transcript`) and every turn on a bead
(`bead.log`). Both read the turn directories; nothing here touches the store's tables
beyond looking up the agent and the bead."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown.daemon.alarm import transcripts
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import MAX_FRAME, ErrorCode, Method, RpcError

PAGE_BYTES = MAX_FRAME - (64 << 10)  # events per answer stop here, so an answer (and its summary) fits one frame
PAGE_MAX = 20000


def _turn_dir(town: Town, agent: dict[str, Any], turn: str | int | None) -> Path | None:
    if turn is None or turn == "":
        return Path(str(agent["turn_dir"])) if agent["turn_dir"] else None
    try:
        number = int(str(turn))
    except ValueError:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"turn must be a turn number, not '{turn}'") from None
    path: Path = town.root / "turns" / str(agent["name"]) / f"{number:04d}"
    if not path.is_dir():
        raise RpcError(ErrorCode.NOT_FOUND, f"agent {agent['name']} has no turn {number}")
    return path


def _page(src: transcripts.Served, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Events from `offset` (negative: from the end), as many as fit in PAGE_BYTES."""
    total = len(src.dicts)
    if offset < 0:
        offset = max(0, total + offset)
    stop, size = offset, 0
    last = min(total, offset + max(1, min(limit, PAGE_MAX)))
    while stop < last and (stop == offset or size + src.sizes[stop] <= PAGE_BYTES):
        size += src.sizes[stop]
        stop += 1
    return src.dicts[offset:stop], stop


@rpc(Method.AGENT_TRANSCRIPT)
async def agent_transcript(ctx: Ctx, town: Town, *, name: str, turn: str | int | None = None, offset: int = 0,
                           limit: int = PAGE_MAX) -> dict[str, Any]:
    """The agent's current (or last, or numbered) turn as transcript events, paged: call
    again with the returned `offset` until it equals `total`; while `running`, new events
    appear at the end (follow by polling from the last offset)."""
    agent = await town.call(town.store.agent_get, name)
    path = _turn_dir(town, agent, turn)
    if path is None:
        return {"id": name, "agent": name, "turn_dir": None, "turn": None, "running": False, "events": [],
                "offset": 0, "total": 0, "summary": None}
    src = await asyncio.to_thread(transcripts.served, path, agent["adapter"])
    page, end = _page(src, offset, limit)
    summary = await asyncio.to_thread(transcripts.summary, path, src.dicts)
    return {"id": name, "agent": name, "turn_dir": str(path), "turn": path.name, "running": summary["running"],
            "events": page, "offset": end, "total": len(src.dicts), "summary": summary}


def _bead_turns(root: Path, bead_ids: set[str]) -> list[dict[str, Any]]:
    turns = []
    for d in transcripts.turn_dirs(root):
        info = transcripts.turn_info(d)
        if info.get("bead") in bead_ids:
            turns.append(transcripts.summary(d, transcripts.served(d, str(info.get("adapter") or "scripted")).dicts))
    turns.sort(key=lambda t: (t["started_at"] or "", t["turn_dir"]))
    return turns


@rpc(Method.BEAD_LOG)
async def bead_log(ctx: Ctx, town: Town, *, id: str) -> list[dict[str, Any]]:
    """Every turn on a bead, oldest first, across agents and reworks, with the review turns
    of its merge requests: who, when, how it ended, tokens. Each turn's events come from
    `agent.transcript` with its `agent` and `turn`."""
    bead = await town.call(town.store.bead_get, id)
    ids = {bead["id"]}
    mrs = await town.call(town.store.bead_list, type="merge_request", limit=10_000)
    ids |= {m["id"] for m in mrs if (m.get("metadata") or {}).get("source_bead_id") == bead["id"]}
    turns = await asyncio.to_thread(_bead_turns, town.root, ids)
    return [{**t, "id": bead["id"]} for t in turns]
