"""`town.notices`: what every interactive `gt` command tells the human in one line each:
settings files that do not check out (a hand edit), and work parked on `gastown/<branch>`."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon.vcs import parked
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


@rpc(Method.TOWN_NOTICES)
async def notices(ctx: Ctx, town: Town) -> dict[str, Any]:
    rigs = await town.call(town.store.rig_list)
    problems = await asyncio.to_thread(town.config_problems, [r["name"] for r in rigs])
    waiting = await asyncio.gather(*(asyncio.to_thread(parked.waiting, r) for r in rigs))
    return {"id": town.name, "config_problems": problems, "parked": [w for w in waiting if w]}


@rpc(Method.RIG_SYNC)
async def sync(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    """Bring merged work parked on `gastown/<branch>` into the user's checkout (clean only)."""
    rig = await town.call(town.store.rig_get, name)
    result = await asyncio.to_thread(parked.sync, rig)
    if result["synced"]:
        await town.call(parked.record_sync, town.store, result, ctx.conn.actor)
    ctx.daemon.wake(town)
    return result


MAX_FILE = 200_000


@rpc(Method.RIG_FILES)
async def files(ctx: Ctx, town: Town, *, name: str, path: str = "") -> dict[str, Any]:
    """Browse a rig at its target branch (what merged work builds on): a directory's entries,
    or a file's text (capped). The mayor reads code this way without a worktree."""
    from gastown.daemon.vcs import git, refinery

    rig = await town.call(town.store.rig_get, name)
    clean = path.strip().strip("/")
    if ".." in clean.split("/"):
        raise RpcError(ErrorCode.INVALID_PARAMS, "a path inside the repository, without '..'")

    def read() -> dict[str, Any]:
        ref = refinery.landing_base(rig["repo_path"], rig["default_branch"])
        spec = f"{ref}:{clean}" if clean else f"{ref}:"
        try:
            kind = git.output(["cat-file", "-t", spec], rig["repo_path"])
        except git.GitError:
            raise RpcError(ErrorCode.NOT_FOUND, f"no '{clean}' in rig {name} at {ref}") from None
        if kind == "tree":
            entries = git.output(["ls-tree", "--name-only", spec], rig["repo_path"]).splitlines()
            return {"id": name, "ref": ref, "path": clean, "kind": "dir", "entries": entries}
        text = git.output(["show", spec], rig["repo_path"])
        return {"id": name, "ref": ref, "path": clean, "kind": "file", "text": text[:MAX_FILE],
                "truncated": len(text) > MAX_FILE}

    return await asyncio.to_thread(read)
