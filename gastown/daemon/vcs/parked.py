"""Parked landings: merged work waiting on `gastown/<target>` in the user's repository.

The refinery never touches a user's uncommitted work: when the checkout of the target
branch is dirty, a merge lands on `gastown/<target>` instead. That is only safe if it is
loud and heals: every interactive `gt` command says so (`town.notices`), `gt rig sync`
brings the work into the checkout once it is clean, and new polecat worktrees start from
the parked branch so later beads build on the merged work instead of conflicting with it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from gastown.daemon.vcs import git
from gastown.protocol import ErrorCode, RpcError
from gastown.model import EventType


def parked_branch(target: str) -> str:
    return f"gastown/{target}"


def _git(source: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(["git", "-C", source, *args], capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)


def _local(source: str) -> bool:
    return not git.is_url(source) and Path(source, ".git").exists()


def waiting(rig: dict[str, Any]) -> dict[str, Any] | None:
    """What waits on the parked branch of a rig with a local checkout, or None."""
    source, target = rig["source"], rig["default_branch"]
    parked = parked_branch(target)
    if not _local(source) or _git(source, "rev-parse", "--verify", "--quiet", f"refs/heads/{parked}").returncode:
        return None
    count = _git(source, "rev-list", "--count", f"{target}..{parked}").stdout.strip()
    if not count or int(count) == 0:
        return None
    return {"rig": rig["name"], "branch": parked, "target": target, "commits": int(count),
            "message": f"rig {rig['name']}: {count} merged commit(s) wait on {parked} because your checkout of "
                       f"{target} had uncommitted changes; run 'gt rig sync {rig['name']}' once it is clean"}


def _dirty(source: str) -> list[str]:
    lines = _git(source, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    return [ln[3:] for ln in lines if ln.strip()]


def sync(rig: dict[str, Any]) -> dict[str, Any]:
    """Bring `gastown/<target>` into the user's `<target>`: fast-forward when possible, else a
    merge commit; refused (nothing touched) while the checkout of the target is dirty."""
    source, target = rig["source"], rig["default_branch"]
    parked = parked_branch(target)
    if not _local(source):
        raise RpcError(ErrorCode.INVALID_STATE, f"rig {rig['name']} is not a local checkout: nothing is parked")
    todo = waiting(rig)
    if todo is None:
        _git(source, "branch", "-D", parked)  # fully contained (or absent): nothing to bring over
        return {"id": rig["name"], "rig": rig["name"], "synced": 0, "branch": target,
                "message": f"nothing waits on {parked}; {target} is up to date"}
    head = _git(source, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    if head == target:
        dirty = _dirty(source)
        if dirty:
            raise RpcError(ErrorCode.INVALID_STATE, f"your checkout of {target} has uncommitted changes "
                           f"({', '.join(dirty[:3])}): commit or stash them, then run 'gt rig sync {rig['name']}'")
        env = {"GIT_COMMITTER_NAME": "gastown refinery", "GIT_COMMITTER_EMAIL": "refinery@gastown"}
        res = _git(source, "merge", "--no-edit", "-m", f"Merge {parked} into {target} (gt rig sync)", parked, env=env)
        if res.returncode != 0:
            files = _git(source, "diff", "--name-only", "--diff-filter=U").stdout.split()
            _git(source, "merge", "--abort")
            raise RpcError(ErrorCode.CONFLICT, f"{parked} conflicts with {target} in {', '.join(files) or '?'}: "
                           f"merge it by hand (git merge {parked}) and resolve")
    else:  # the target is not checked out: move it (fast-forward only)
        res = _git(source, "fetch", ".", f"{parked}:{target}")
        if res.returncode != 0:
            raise RpcError(ErrorCode.CONFLICT, f"{target} and {parked} have diverged: check out {target} and run "
                           f"'gt rig sync {rig['name']}' again (it merges), or merge by hand")
    _git(source, "branch", "-D", parked)
    return {"id": rig["name"], "rig": rig["name"], "synced": todo["commits"], "branch": target,
            "message": f"brought {todo['commits']} commit(s) from {parked} into {target}"}


def record_sync(store: Any, result: dict[str, Any], actor: str | None) -> None:
    """The town's audit log keeps every sync (a town event, no bead)."""
    store.town_event(EventType.RIG_SYNCED, actor=actor, new=result["branch"], meta=result)
