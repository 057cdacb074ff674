"""Rigs: git repositories connected to a town, each cloned into the town (bare)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from gastown.daemon.town import config
from gastown.daemon.vcs import gates, git
from gastown.daemon.store import holds
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town, check_name
from gastown.protocol import ErrorCode, Method, RpcError


def _clone(town: Town, name: str, source: str, branch: str | None) -> tuple[str, str, str]:
    """Validate and clone off the event loop; returns (source, branch, repo path)."""
    try:
        canonical = git.validate_source(source)
        dest = town.rig_dir(name) / "repo.git"
        if dest.exists():
            shutil.rmtree(dest)
        used = git.clone_rig(canonical, dest, branch)
    except git.GitError as exc:
        raise RpcError(ErrorCode.EXTERNAL, str(exc)) from None
    return canonical, used, str(dest)


@rpc(Method.RIG_ADD)
async def add(ctx: Ctx, town: Town, *, name: str, source: str, branch: str | None = None,
              gate: str | None = None, no_gate: bool = False) -> dict[str, Any]:
    """Clone the repository into the town and set its quality gate: `gate`, none with
    `no_gate`, else the test command detected in it (said in `gate_reason`)."""
    if gate is not None and no_gate:
        raise RpcError(ErrorCode.INVALID_PARAMS, "give --gate CMD or --no-gate, not both")
    rig = await _add(ctx, town, name=name, source=source, branch=branch)
    if no_gate:
        chosen, why = None, "none, as asked: work merges untested"
    elif gate is not None and gate.strip():
        chosen, why = gate.strip(), "as asked"
    else:
        chosen = await asyncio.to_thread(gates.detect, rig["repo_path"], rig["default_branch"])
        why = "detected in the repository (change it with 'gt config set refinery.gates ... --rig " + name + "')" \
            if chosen else "no test command found: work will merge untested until you set refinery.gates"
    if chosen:
        await town.call(config.set_dotted, town.rig_dir(name) / "config.toml", "refinery.gates", [chosen])
    elif no_gate:  # remembered so slinging does not warn; town-level gates still apply
        await town.call(town.store.patrol_set, gates.opt_out_key(name), True)
    return {**rig, "gate": chosen, "gate_reason": why}


async def _add(ctx: Ctx, town: Town, *, name: str, source: str, branch: str | None) -> dict[str, Any]:
    check_name("rig", name)
    if name in town.rigs_in_flight or any(r["name"] == name for r in await town.call(town.store.rig_list)):
        raise RpcError(ErrorCode.ALREADY_EXISTS, f"rig '{name}' already exists")
    town.rigs_in_flight.add(name)
    try:
        canonical, used, repo = await asyncio.to_thread(_clone, town, name, source, branch)
        try:
            return await town.call(town.store.rig_add, name, canonical, used, repo)
        except Exception:
            shutil.rmtree(town.rig_dir(name), ignore_errors=True)
            raise
    except Exception:
        if not (town.rig_dir(name) / "repo.git").exists():
            shutil.rmtree(town.rig_dir(name), ignore_errors=True)
        raise
    finally:
        town.rigs_in_flight.discard(name)


@rpc(Method.RIG_LIST)
async def list_(ctx: Ctx, town: Town) -> list[dict[str, Any]]:
    return await town.call(town.store.rig_list)


@rpc(Method.RIG_SHOW)
async def show(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    rig = await town.call(town.store.rig_get, name)
    rig["beads"] = await town.call(town.store.rig_bead_counts, name)
    return rig


def unsaved_work(town: Town, rig: dict[str, Any]) -> list[str]:
    """What removing the rig's clone would lose: dirty worktrees and branches whose commits
    are on no remote branch (a failed bead's work, say)."""
    repo, base = rig["repo_path"], f"origin/{rig['default_branch']}"
    lost: list[str] = []
    try:
        for wt in git.list_worktrees(repo):
            if not wt.bare and wt.path.exists():
                state = git.worktree_state(wt.path, base)
                if state.dirty:
                    lost.append(f"{wt.path} has {len(state.dirty_files)} uncommitted file(s)")
        refs = git.output(["for-each-ref", "--format=%(refname:short)", "refs/heads/"], repo).split()
        for branch in refs:
            ahead = int(git.output(["rev-list", "--count", branch, "--not", "--remotes"], repo) or 0)
            if ahead:
                lost.append(f"branch {branch} has {ahead} unpushed commit(s)")
    except git.GitError as exc:
        lost.append(f"cannot inspect {repo}: {exc}")
    return lost


@rpc(Method.RIG_REMOVE)
async def remove(ctx: Ctx, town: Town, *, name: str, force: bool = False) -> dict[str, Any]:
    """Disconnect a rig. Refused while it holds work that exists nowhere else, unless forced."""
    rig = await town.call(town.store.rig_get, name)
    lost = await asyncio.to_thread(unsaved_work, town, rig)
    if lost and not force:
        raise RpcError(ErrorCode.INVALID_STATE, f"rig '{name}' holds work that exists nowhere else: "
                       f"{'; '.join(lost[:3])}{' ...' if len(lost) > 3 else ''} (merge or push it, or pass --force)")
    rig = await town.call(town.store.rig_remove, name)
    await town.call(holds.forget_rig, town.store, name)
    shutil.rmtree(town.root / "worktrees" / name, ignore_errors=True)
    shutil.rmtree(town.rig_dir(name), ignore_errors=True)
    return {**rig, "discarded": lost}
