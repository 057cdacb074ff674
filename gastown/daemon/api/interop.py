"""Work in and out: beads JSONL import and export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown.daemon.store import interop
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError

MAX_IMPORT = 256 << 20


def _read(path: str) -> str:
    p = Path(path)
    if not p.is_absolute():
        raise RpcError(ErrorCode.INVALID_PARAMS, "path must be absolute")
    try:
        if p.stat().st_size > MAX_IMPORT:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{path}: larger than {MAX_IMPORT >> 20} MiB")
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RpcError(ErrorCode.NOT_FOUND, f"no file {path}") from None
    except UnicodeDecodeError:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{path}: {exc.strerror}") from None


@rpc(Method.BEAD_IMPORT)
async def import_(ctx: Ctx, town: Town, *, path: str | None = None, text: str | None = None,
                  rig: str | None = None) -> dict[str, Any]:
    """A beads `issues.jsonl` file (a path on this machine, or its text): all or nothing."""
    if (path is None) == (text is None):
        raise RpcError(ErrorCode.INVALID_PARAMS, "give the file's path or its text")
    content = text if text is not None else await asyncio.to_thread(_read, path or "")
    result = await town.call(interop.import_text, town.store, content, rig=rig, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return result


@rpc(Method.BEAD_EXPORT)
async def export(ctx: Ctx, town: Town, *, rig: str | None = None, offset: int = 0, limit: int = 500) -> dict[str, Any]:
    if offset < 0 or not 1 <= limit <= 2000:
        raise RpcError(ErrorCode.INVALID_PARAMS, "offset >= 0 and limit from 1 to 2000")
    if rig is not None:
        await town.call(town.store.rig_get, rig)
    return await town.call(interop.export_page, town.store, rig=rig, offset=offset, limit=limit)


@rpc(Method.IMPORT_ISSUES)
async def import_issues(ctx: Ctx, town: Town, *, repo: str | None = None, rig: str | None = None,
                        labels: list[str] | None = None) -> dict[str, Any]:
    """A forge's open issues (with every given label) become beads on a rig, each once."""
    from gastown.daemon.alarm import issuesync

    rigs = await town.call(town.store.rig_list)
    if rig is None:
        if len(rigs) != 1:
            raise RpcError(ErrorCode.INVALID_PARAMS, "name the rig the issues are for (--rig)")
        rig = rigs[0]["name"]
    row = await town.call(town.store.rig_get, rig)
    if repo is not None and (repo.count("/") < 1 or any(not p for p in repo.split("/"))):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"--repo takes OWNER/NAME, not '{repo}'")
    forge = await asyncio.to_thread(issuesync.forge_of, town, row, repo)
    issues = await asyncio.to_thread(issuesync.fetch, forge, labels or [])
    result = await town.call(issuesync.add_beads, town.store, issues, rig=rig, repo=forge.repo, kind=forge.kind,
                             actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return result
