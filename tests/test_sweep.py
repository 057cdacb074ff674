"""The orphan sweep removes only what git says is safe, and only what gastown made."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from gastown.daemon.vcs import git
from gastown.daemon.alarm import witness
from tests.conftest import make_repo


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout


def test_sweep_keeps_work_and_foreign_worktrees(gt_home: Path) -> None:
    source = make_repo(gt_home / "src" / "app")
    town_root = gt_home / "towns" / "t"
    repo = town_root / "rigs" / "app" / "repo.git"
    git.clone_rig(str(source), repo)
    trees = {name: town_root / "worktrees" / "app" / name for name in ("clean", "dirty", "unpushed", "live")}
    for name, path in trees.items():
        git.add_worktree(repo, path, f"gt/{name}/x-1", "origin/main")
    (trees["dirty"] / "notes.txt").write_text("uncommitted thoughts\n")
    (trees["unpushed"] / "work.py").write_text("print('work')\n")
    _git(trees["unpushed"], "add", "-A")
    _git(trees["unpushed"], "commit", "-qm", "work in progress")
    foreign = gt_home / "elsewhere"  # a worktree the user made by hand
    git.add_worktree(repo, foreign, "user-branch", "origin/main")

    town = SimpleNamespace(root=town_root)
    agents = [{"worktree": str(trees["live"])}]  # the only agent that still exists
    rigs = [{"repo_path": str(repo), "default_branch": "main"}]
    removed = witness.sweep(town, agents, rigs)  # type: ignore[arg-type]

    assert removed == [str(trees["clean"])]
    assert not trees["clean"].exists()
    assert (trees["dirty"] / "notes.txt").read_text() == "uncommitted thoughts\n"
    assert (trees["unpushed"] / "work.py").exists() and "work in progress" in _git(trees["unpushed"], "log", "-1")
    assert trees["live"].exists() and foreign.exists()
