"""A polecat worktree registered by gastown (gastown.daemon.vcs.worktreemeta) is one git
itself recognises in every way that matters: listed, its branch counted as checked out,
kept by prune, removable, committed to; and the files match what `git worktree add` writes.
Real git repositories throughout."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from gastown.daemon.alarm.turns import TurnStarter
from gastown.daemon.vcs import git, worktreemeta
from tests.conftest import make_repo


def g(cwd: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(cwd), *args], check=check, capture_output=True, text=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    source = make_repo(tmp_path / "src", {"README.md": "# app\n", "pkg/mod.py": "x = 1\n"})
    repo = tmp_path / "clone.git"
    git.clone_rig(str(source), repo)
    return repo


def add(clone: Path, path: Path, branch: str) -> None:
    assert worktreemeta.create_branch(clone, branch, "origin/main")
    assert worktreemeta.register(clone, path, branch)
    g(path, "reset", "--hard", "-q")


def test_git_treats_a_registered_worktree_as_its_own(clone: Path, tmp_path: Path) -> None:
    path = tmp_path / "worktrees" / "app" / "toast"
    add(clone, path, "gt/toast/x-1")
    assert (path / "pkg" / "mod.py").read_text() == "x = 1\n" and g(path, "status", "--porcelain").stdout == ""
    listed = {w.path: w for w in git.list_worktrees(clone)}
    assert listed[path.resolve()].branch == "gt/toast/x-1"
    refused = g(clone, "worktree", "add", str(tmp_path / "twice"), "gt/toast/x-1", check=False)
    assert refused.returncode != 0 and "already" in refused.stderr  # checked out here: git knows
    (path / "new.txt").write_text("work\n")
    g(path, "add", "-A")
    g(path, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "work")
    assert g(clone, "rev-parse", "gt/toast/x-1").stdout == g(path, "rev-parse", "HEAD").stdout
    g(clone, "worktree", "prune")
    assert path.resolve() in {w.path for w in git.list_worktrees(clone)}
    assert git.worktree_state(path, "origin/main").unpushed == 1
    git.remove_worktree(clone, path, "origin/main", force=True)
    assert not path.exists() and [w.bare for w in git.list_worktrees(clone)] == [True]
    assert not (clone / "worktrees").exists()  # git drops the emptied registry, as for its own


def test_the_files_are_the_ones_git_writes(clone: Path, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "a" / "ours", tmp_path / "b" / "theirs"
    add(clone, ours, "gt/ours/x-1")
    g(clone, "worktree", "add", "-q", "--no-checkout", "-b", "gt/theirs/x-1", str(theirs), "origin/main")
    for name, expect in (("ours", "gt/ours/x-1"), ("theirs", "gt/theirs/x-1")):
        admin = clone / "worktrees" / name
        tree = ours if name == "ours" else theirs
        assert (admin / "gitdir").read_text() == f"{tree.resolve() / '.git'}\n"
        assert (admin / "commondir").read_text() == "../..\n"
        assert (admin / "HEAD").read_text() == f"ref: refs/heads/{expect}\n"
        assert (tree / ".git").read_text() == f"gitdir: {admin}\n"


def test_same_name_twice_gets_the_next_free_id_and_a_full_path_is_refused(clone: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "rig1" / "toast", tmp_path / "rig2" / "toast"
    add(clone, first, "gt/toast/a-1")
    add(clone, second, "gt/toast/b-1")
    assert sorted(p.name for p in (clone / "worktrees").iterdir()) == ["toast", "toast1"]
    assert {w.branch for w in git.list_worktrees(clone) if not w.bare} == {"gt/toast/a-1", "gt/toast/b-1"}
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine\n")
    assert worktreemeta.create_branch(clone, "gt/full/c-1", "origin/main")
    with pytest.raises(git.GitError, match="not empty"):
        worktreemeta.register(clone, full, "gt/full/c-1")
    assert (full / "keep.txt").read_text() == "mine\n" and not (full / ".git").exists()
    assert not [p for p in clone.iterdir() if p.name.startswith("gt-staging-")]


def test_create_branch_never_moves_an_existing_one(clone: Path, tmp_path: Path) -> None:
    add(clone, tmp_path / "wt", "gt/toast/x-1")
    (tmp_path / "wt" / "f.txt").write_text("f\n")
    g(tmp_path / "wt", "add", "-A")
    g(tmp_path / "wt", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "work")
    head = g(clone, "rev-parse", "gt/toast/x-1").stdout
    assert not worktreemeta.create_branch(clone, "gt/toast/x-1", "origin/main")
    assert g(clone, "rev-parse", "gt/toast/x-1").stdout == head


def test_many_adds_at_once_while_git_reads_the_worktrees(clone: Path, tmp_path: Path) -> None:
    """What a big sling does: adds from many threads (under the rig lock) while git commands
    outside it list the worktrees; no reader ever sees a half-written registration."""
    n = 24
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            r = g(clone, "worktree", "list", "--porcelain", check=False)
            if r.returncode != 0 or "error" in r.stderr or "fatal" in r.stderr:
                errors.append(r.stderr)

    def one(i: int) -> None:
        path = tmp_path / "worktrees" / f"p{i}"
        TurnStarter._add_worktree(str(clone), path, f"gt/p{i}/x-{i}", "origin/main")
        g(path, "reset", "--hard", "-q")

    reader = threading.Thread(target=read)
    reader.start()
    workers = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    done.set()
    reader.join(60)
    assert errors == []
    trees = [w for w in git.list_worktrees(clone) if not w.bare]
    assert sorted(w.branch or "" for w in trees) == sorted(f"gt/p{i}/x-{i}" for i in range(n))
    assert all((w.path / "README.md").exists() for w in trees)


def test_a_stale_registration_of_the_same_path_is_replaced_not_doubled(clone: Path, tmp_path: Path) -> None:
    """The polecat's directory vanished (deleted by hand) and no prune ran yet."""
    path = tmp_path / "worktrees" / "toast"
    add(clone, path, "gt/toast/a-1")
    subprocess.run(["rm", "-rf", str(path)], check=True)
    add(clone, path, "gt/toast/b-1")
    trees = [w for w in git.list_worktrees(clone) if not w.bare]
    assert [(w.path, w.branch) for w in trees] == [(path.resolve(), "gt/toast/b-1")]
    g(clone, "branch", "-D", "gt/toast/a-1")  # no longer counted as checked out anywhere


def test_a_tree_registered_but_never_checked_out_is_checked_out_on_reuse(clone: Path, tmp_path: Path) -> None:
    """A crash between the registration and the checkout: the next dispatch to that polecat
    finds only `.git` there and checks the branch out instead of handing the agent an
    empty tree."""
    path = tmp_path / "worktrees" / "app" / "toast"
    assert worktreemeta.create_branch(clone, "gt/toast/x-1", "origin/main")
    assert worktreemeta.register(clone, path, "gt/toast/x-1")
    assert not worktreemeta.checked_out(path)
    starter = TurnStarter(None, None)  # type: ignore[arg-type]  # prepare_worktree needs neither
    starter.prepare_worktree(str(clone), path, "gt/toast/x-1", "main")
    assert worktreemeta.checked_out(path) and (path / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert g(path, "status", "--porcelain").stdout == ""
