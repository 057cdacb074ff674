"""A bead's commits and diff on real git repositories: the branch against its base while
in progress, the merge against its first parent after it landed (never empty), and the
CLI on a real daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gastown.daemon.edge import diffs
from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    origin, repo = tmp_path / "origin", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True)
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(origin, "config", k, v)
    (origin / "a.txt").write_text("one\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "base")
    subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True)
    for k, v in (("user.name", "T"), ("user.email", "t@x")):
        git(repo, "config", k, v)
    git(repo, "switch", "-qc", "gt/toast/gt-1")
    (repo / "a.txt").write_text("one\ntwo\n")
    git(repo, "commit", "-qam", "add two")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add b")
    return repo


def where(repo: Path, merge_commit: str | None = None) -> dict[str, object]:
    return {"id": "gt-1", "branch": "gt/toast/gt-1", "target": "main", "repo": str(repo),
            "head": git(repo, "rev-parse", "gt/toast/gt-1"), "merge_commit": merge_commit}


def test_in_progress_is_the_branch_against_its_fork_point(repo: Path) -> None:
    res = diffs.bead_diff(where(repo))
    assert res["state"] == "in_progress" and [c["subject"] for c in res["commits"]] == ["add b", "add two"]
    assert (res["files"], res["insertions"], res["deletions"]) == (2, 2, 0)
    assert "+two" in res["diff"] and "b.txt" in res["stat"]


@pytest.mark.parametrize("mode", ["--no-ff", "--squash"])
def test_after_the_merge_it_is_what_landed(repo: Path, mode: str) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "switch", "-q", "main")
    (repo / "c.txt").write_text("landed meanwhile\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "unrelated")
    if mode == "--no-ff":
        git(repo, "merge", "-q", "--no-ff", "--no-edit", "gt/toast/gt-1")
    else:
        git(repo, "merge", "-q", "--squash", "gt/toast/gt-1")
        git(repo, "commit", "-qm", "squashed gt-1")
    git(repo, "update-ref", "refs/remotes/origin/main", "main")  # as if pushed and fetched
    merged = git(repo, "rev-parse", "main")
    res = diffs.bead_diff({**where(repo, merged), "head": head})
    assert res["state"] == "merged" and res["merge_commit"] == merged
    assert [c["subject"] for c in res["commits"]] == ["add b", "add two"]
    assert (res["files"], res["insertions"]) == (2, 2) and "c.txt" not in res["stat"]  # not what landed meanwhile
    assert "+two" in res["diff"]
    if mode == "--no-ff":  # the branch against a base that now contains it: empty, hence the merge view
        before = diffs.bead_diff({**where(repo), "head": head})
        assert before["state"] == "in_progress" and before["commits"] == [] and before["files"] == 0


@pytest.mark.slow
def test_bead_diff_and_commits_after_the_merge_through_the_cli(town: Path) -> None:
    slung = gtj("sling", "add notes", "--rig", "app", "--script", "printf 'hello\\n' > notes.txt")[0]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 60, "merged")
    stat = run_gt("bead", "diff", slung["id"], "--stat", check=True)
    assert "notes.txt" in stat.stdout and "1 commit(s), landed in" in stat.stderr
    assert "+hello" in run_gt("bead", "diff", slung["id"], check=True).stdout
    commits = gtj("bead", "commits", slung["id"])
    assert [c["subject"] for c in commits] == ["add notes"]
    assert commits[0]["committer"].startswith("toast (gastown polecat)")
    shown = run_gt("bead", "commits", slung["id"], check=True).stdout.splitlines()
    assert shown[0].endswith("  add notes") and "author Test Human <human@example.com>" in shown[1]
    missing = run_gt("bead", "diff", gtj("bead", "create", "nothing yet")[0]["id"])
    assert missing.returncode != 0 and "not dispatched" in missing.stderr
