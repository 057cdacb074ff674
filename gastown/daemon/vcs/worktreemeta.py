"""A new polecat worktree registered in microseconds, so the rig lock is held that long.

`git worktree add` reads every other worktree's metadata before it adds one (to refuse a
branch checked out twice, a path registered twice): with 200 polecats that is 200 reads per
add, and adds must not overlap (gastown.daemon.vcs.riglock), so a 200-bead sling waited
for 200 of them in a row. For a branch that did not exist a moment ago there is nothing to
check, so gastown writes the registration itself, the files gitrepository-layout(5)
documents and `git worktree add --no-checkout` writes:

    <common dir>/worktrees/<id>/gitdir     absolute path of <path>/.git
    <common dir>/worktrees/<id>/commondir  ../..
    <common dir>/worktrees/<id>/HEAD       ref: refs/heads/<branch>
    <path>/.git                            gitdir: <common dir>/worktrees/<id>

The directory is built beside `worktrees/` and renamed into place, so a git command running
at the same time sees either no worktree or a complete one (git's own add writes the files
one after the other). The branch itself is created first with a create-only `update-ref`
(git's ref locking makes that atomic; it fails if the branch exists). Anything else, an
existing branch or a clone this does not recognise, goes through `git worktree add`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from gastown.daemon.vcs import git

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _resolve(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def common_dir(repo: Path) -> Path | None:
    """The git directory shared by all worktrees: a bare clone itself, or `<repo>/.git`;
    None for layouts left to git (a `.git` file, a clone with `relativeWorktrees`)."""
    for cand in (repo, repo / ".git"):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir() and (cand / "refs").is_dir():
            config = cand / "config"
            text = config.read_text(errors="replace").lower() if config.is_file() else ""
            return None if "relativeworktrees" in text or "worktreeconfig" in text else cand
    return None


def create_branch(repo: Path | str, branch: str, base: str) -> bool:
    """Create `refs/heads/<branch>` (a name the caller checked with git.check_branch_name)
    at `base` only if it does not exist (atomic, outside the rig lock). False when it
    already exists."""
    if not base or base.startswith("-") or "\n" in base or "\0" in base:
        raise git.GitError(f"invalid base: {base!r}", "", -1)
    r = git.run(["update-ref", "--no-deref", f"refs/heads/{branch}", f"{base}^{{commit}}", ""], _resolve(repo),
                ok=(0, 1, 128), what="git update-ref")
    return r.returncode == 0


def register(repo: Path | str, path: Path | str, branch: str) -> bool:
    """Register the empty directory `path` as a worktree of `repo` on the existing branch
    `branch`, nothing checked out yet (`git reset --hard` in it does that). Hold the rig's
    lock. False when the clone's layout is one to leave to `git worktree add`."""
    common = common_dir(_resolve(repo))
    if common is None:
        return False
    path_p = _resolve(path)
    path_p.mkdir(parents=True, exist_ok=True)
    if any(path_p.iterdir()):
        raise git.GitError(f"worktree path already exists and is not empty: {path_p}", "", -1)
    admin = common / "worktrees"
    admin.mkdir(exist_ok=True)
    _drop_stale(admin, path_p / ".git")
    staging = common / f"gt-staging-{secrets.token_hex(6)}"  # not under worktrees/: git never lists it
    staging.mkdir()
    try:
        (staging / "gitdir").write_text(f"{path_p / '.git'}\n")
        (staging / "commondir").write_text("../..\n")
        (staging / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
        _claim(admin, staging, _ID_UNSAFE.sub("-", path_p.name) or "wt", path_p)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        (path_p / ".git").unlink(missing_ok=True)
        raise
    return True


def checked_out(path: Path | str) -> bool:
    """False for a linked worktree that was registered but never checked out (no index: a
    crash came between `register` and its `git reset --hard`); True otherwise."""
    dotgit = Path(path) / ".git"
    if not dotgit.is_file():
        return True
    text = dotgit.read_text(errors="replace").strip()
    if not text.startswith("gitdir: "):
        return True
    admin = Path(text[len("gitdir: "):])
    return not admin.is_dir() or (admin / "index").exists()


def _drop_stale(admin: Path, dotgit: Path) -> None:
    """An earlier registration of this (now empty) path is stale by git's own rule (its
    `.git` is gone): drop it, as `git worktree prune` would, so no two registrations ever
    claim one path. A locked one is the human's: refuse."""
    for entry in admin.iterdir():
        try:
            points_at = (entry / "gitdir").read_text().strip()
        except OSError:
            continue
        if points_at != str(dotgit):
            continue
        if (entry / "locked").exists():
            raise git.GitError(f"{dotgit.parent} is registered as a locked worktree ({entry.name})", "", -1)
        shutil.rmtree(entry)


def _claim(admin: Path, staging: Path, name: str, path: Path) -> None:
    """Rename the staged registration to the first free `worktrees/<name>[N]` (git's own
    naming), writing the worktree's `.git` pointer just before, so a prune never finds a
    registration whose worktree does not point back."""
    for n in range(10_000):
        target = admin / (name if n == 0 else f"{name}{n}")
        if target.exists():
            continue
        (path / ".git").write_text(f"gitdir: {target}\n")
        try:
            os.rename(staging, target)  # atomic; fails if another registration took the name
            return
        except OSError:
            if not target.exists():
                raise
    raise git.GitError(f"no free worktree name for {name} in {admin}", "", -1)
