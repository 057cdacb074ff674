"""The in-process (dulwich) bead reads give git's answer exactly, on real repositories: commit
lists (subjects, identities, ISO dates with offsets, trailers), ranges in progress and after
regular / squash merges, and the single-process diff split into stat, numstat and patch; and
reading a repository with planted program-running config runs nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.edge import diffs
from gastown.daemon.vcs import git as vgit
from gastown.daemon.vcs import gitread



def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


_clock = [1_700_000_000]


def commit(repo: Path, message: str, *, same_second: bool = False, tz: str = "+0000",
           author: str = "T <t@x>") -> None:
    if not same_second:
        _clock[0] += 60
    when = f"{_clock[0]} {tz}"
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", f"--author={author}", "-m", message,
        env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Path, Path]:
    """(bare rig clone with origin/main, the agent's working clone pushing into the rig)."""
    origin, work, rig = tmp_path / "origin", tmp_path / "work", tmp_path / "rig.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True)
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(origin, "config", k, v)
    (origin / "keep.txt").write_text("".join(f"line {i}\n" for i in range(40)))
    (origin / "old.txt").write_text("to be renamed\n" * 20)
    (origin / "gone.txt").write_text("deleted later\n")
    (origin / "img.bin").write_bytes(bytes(range(256)))
    commit(origin, "base")
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(rig)], check=True)
    git(rig, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    git(rig, "fetch", "-q", "origin")
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(work, "config", k, v)
    git(work, "switch", "-qc", "gt/toast/gt-1")
    (work / "keep.txt").write_text("".join(f"line {i}\n" for i in range(40) if i % 7) + "tail\n")
    commit(work, "Edit keep\nwrapped subject line  \n\nBody text.\n\nGastown-Bead: gt-1\nSigned-off-by: A <a@x>\n")
    git(work, "mv", "old.txt", "new.txt")
    (work / "new.txt").write_text("to be renamed\n" * 19 + "changed\n")
    (work / "gone.txt").unlink()
    (work / "img.bin").write_bytes(bytes(range(255, -1, -1)))
    commit(work, "Rename, delete, binary\n\nSee-also: a\n  continued value\nSee-also: b", tz="-0730",
           author="Zoë Ünïcode <z@x>")
    (work / "späce name.txt").write_text("é\n")
    commit(work, "Same second one", same_second=True, tz="+0545")
    commit(work, "Same second two", same_second=True, tz="+0545")
    git(work, "push", "-q", str(rig), "gt/toast/gt-1")
    # main moves on after the fork: the merge base must still be the fork point
    (origin / "main-only.txt").write_text("m\n")
    commit(origin, "main moves")
    git(rig, "fetch", "-q", "origin")
    return rig, work


def where(rig: Path, merge_commit: str | None = None, head: str | None = None) -> dict[str, Any]:
    return {"id": "gt-1", "branch": "gt/toast/gt-1", "target": "main", "repo": str(rig),
            "head": head or git(rig, "rev-parse", "gt/toast/gt-1"), "merge_commit": merge_commit}


def by_git(w: dict[str, Any]) -> tuple[str, str, str, list[dict[str, Any]]]:
    state, base, head, commits_range = diffs._range(w)
    return state, base, head, vgit.log(w["repo"], commits_range, 200)


def test_in_progress_commits_match_git(rig: tuple[Path, Path]) -> None:
    w = where(rig[0])
    mine, theirs = diffs._range_inproc(w), by_git(w)
    assert mine == theirs
    assert [c["subject"] for c in mine[3]][-1] == "Edit keep wrapped subject line"
    assert mine[3][-1]["trailers"] == {"Gastown-Bead": "gt-1", "Signed-off-by": "A <a@x>"}
    assert mine[3][-2]["trailers"] == {"See-also": "a continued value, b"}
    assert mine[3][-2]["author_date"].endswith("-07:30")


def test_a_branch_name_as_head_resolves_like_git(rig: tuple[Path, Path]) -> None:
    w = where(rig[0], head="gt/toast/gt-1")
    assert diffs._range_inproc(w) == by_git(w)


def test_after_a_regular_merge_commits_come_from_git_and_match(rig: tuple[Path, Path]) -> None:
    rig_dir, work = rig
    git(rig_dir, "update-ref", "refs/heads/main", git(rig_dir, "rev-parse", "origin/main"))
    wt = rig_dir.parent / "land"
    git(rig_dir, "worktree", "add", "-q", str(wt), "main")
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(wt, "config", k, v)
    git(wt, "merge", "-q", "--no-ff", "-m", "Merge gt-1", "gt/toast/gt-1")
    merged = git(wt, "rev-parse", "HEAD")
    w = where(rig_dir, merged)
    assert diffs._range_inproc(w) == by_git(w)  # head exists: its own (linear) commits
    gone = where(rig_dir, merged, head="0" * 40)
    with pytest.raises(gitread.Unreadable):  # first..merge holds the merge commit: git decides
        diffs._range_inproc(gone)
    assert diffs._commits_and_range(gone) == by_git(gone)


def test_after_a_squash_merge_commits_match_git(rig: tuple[Path, Path]) -> None:
    rig_dir, _ = rig
    git(rig_dir, "update-ref", "refs/heads/main", git(rig_dir, "rev-parse", "origin/main"))
    wt = rig_dir.parent / "land"
    git(rig_dir, "worktree", "add", "-q", str(wt), "main")
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(wt, "config", k, v)
    git(wt, "merge", "-q", "--squash", "gt/toast/gt-1")
    git(wt, "commit", "-qm", "gt-1 squashed")
    squash = git(wt, "rev-parse", "HEAD")
    for w in (where(rig_dir, squash), where(rig_dir, squash, head="f" * 40)):
        mine = diffs._range_inproc(w)
        assert mine == by_git(w) and mine[3]


def test_one_git_diff_splits_into_what_three_calls_printed(rig: tuple[Path, Path]) -> None:
    rig_dir = rig[0]
    state, base, head, _ = diffs._range_inproc(where(rig_dir))
    stat, numstat, patch = diffs.diff_texts(str(rig_dir), base, head, True)
    assert stat == vgit.output(["diff", "--stat", base, head], rig_dir)
    assert numstat == vgit.output(["diff", "--numstat", base, head], rig_dir)
    assert patch == vgit.output(["diff", "--no-color", "--no-ext-diff", base, head], rig_dir)
    assert "old.txt => new.txt" in stat and "Binary files" in patch and "deleted file mode" in patch
    assert diffs.diff_texts(str(rig_dir), base, head, False) == (stat, numstat, "")
    assert diffs.diff_texts(str(rig_dir), head, head, True) == ("", "", "")


@pytest.mark.parametrize("message", [
    "subject only",
    "subject\n\nKey: v",
    "subject\nKey: not a trailer (still the subject)",
    "subject\n\nbody\n\nKey: v\nOther-Key: w\nKey: x",
    "subject\n\nKey: v\nplain line\n",  # 1 of 2: not all trailers, nothing git-generated
    "subject\n\nprose one\nprose two\nprose three\nSigned-off-by: A <a@x>",  # 25% with git's own
    "subject\n\nprose one\nprose two\nprose three\nprose four\nSigned-off-by: A <a@x>",  # under 25%
    "subject\n\nKey : spaced\nBad key: no\nx-y: z",
    "subject\n\nFolded: a\n b\n\tc\nNext: d",
    "subject\n\n(cherry picked from commit abc)\nKey: v",
    "subject\n\n---\nKey: after a divider",
    "subject\n\nKey:\n continued only",
    "subject\n\nNot:trailer-free text: with colons everywhere\n\n\n",
])
def test_trailers_match_git(tmp_path: Path, message: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(tmp_path, "config", k, v)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m",
                    message], check=True)
    repo = gitread.open_repo(tmp_path)
    try:
        c = gitread.commit(repo, "HEAD")
        assert [gitread.entry(c)] == vgit.log(tmp_path, "HEAD", 1)
    finally:
        repo.close()


def test_reading_runs_nothing_an_agent_planted(rig: tuple[Path, Path], tmp_path: Path) -> None:
    rig_dir = rig[0]
    marker = tmp_path / "ran"
    evil = f"touch {marker}"
    (tmp_path / "inc.cfg").write_text(f"[core]\n\tfsmonitor = {evil}\n")
    with (rig_dir / "config").open("a") as f:
        f.write(f"[core]\n\tfsmonitor = {evil}\n\tpager = {evil}\n\thooksPath = {tmp_path}\n"
                f"[diff]\n\texternal = {evil}\n[diff \"x\"]\n\ttextconv = {evil}\n"
                f"[filter \"x\"]\n\tclean = {evil}\n\tsmudge = {evil}\n\tprocess = {evil}\n"
                f"[include]\n\tpath = {tmp_path / 'inc.cfg'}\n")
    (rig_dir / "info").mkdir(exist_ok=True)
    (rig_dir / "info" / "attributes").write_text("* diff=x filter=x\n")
    for hook in ("post-checkout", "reference-transaction", "post-index-change"):
        (tmp_path / hook).write_text(f"#!/bin/sh\n{evil}\n")
        (tmp_path / hook).chmod(0o755)
    res = diffs.bead_diff(where(rig_dir))
    assert res["available"] and res["commits"] and "old.txt => new.txt" in res["stat"]
    assert not marker.exists()


def test_replace_refs_leave_the_commits_to_git(rig: tuple[Path, Path]) -> None:
    rig_dir, work = rig
    w = where(rig_dir)
    tip = git(rig_dir, "rev-parse", "gt/toast/gt-1")
    git(work, "commit", "-q", "--amend", "--allow-empty", "-m", "a replacement")  # same parent as the tip
    git(work, "push", "-q", str(rig_dir), "HEAD:refs/heads/other")
    git(rig_dir, "replace", tip, git(rig_dir, "rev-parse", "other"))
    with pytest.raises(gitread.Unreadable):
        diffs._range_inproc(w)
    assert diffs._commits_and_range(w) == by_git(w)
    assert by_git(w)[3][0]["subject"] == "a replacement"  # git's view, replaced


def test_a_missing_repository_is_a_clear_unavailable(tmp_path: Path) -> None:
    res = diffs.bead_diff(where(tmp_path / "nowhere", head="0" * 40))
    assert res["available"] is False and res["reason"]
