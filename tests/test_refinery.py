"""The merge recipe on real git repositories: refinery.process, land, gates, the pr strategy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gastown.daemon.vcs import git, refinery
from gastown.daemon.runtime.hostgates import host_gate
from gastown.daemon.vcs.gates import TAIL, Gate
from tests.conftest import make_repo
from tests.helpers import procs_with, wait_for

BRANCH = "gt/toast/x-1"
HUMAN = {"name": "Bob Boss", "email": "bob@example.com"}
AUTHOR = ("Ada Human", "ada@example.com")
POLECAT = ("toast (gastown polecat)", "toast@t.gastown")


def g(cwd: Path | str, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


def fmt(cwd: Path | str, rev: str, spec: str) -> str:
    return g(cwd, "log", "-1", f"--format={spec}", rev)


def polecat_commit(clone: Path, wt: Path, branch: str, files: dict[str, str], message: str = "polecat work",
                   *, keep: bool = False) -> str:
    """A polecat branch off origin/main with one commit (Ada authors, toast commits)."""
    if not wt.exists():
        git.add_worktree(clone, wt, branch, "origin/main")
    for name, text in files.items():
        (wt / name).write_text(text)
    sha = git.commit_all(wt, message, AUTHOR[0], AUTHOR[1], POLECAT[0], POLECAT[1])
    assert sha
    if not keep:
        git.remove_worktree(clone, wt, "origin/main", force=True)
    return sha


def push_from_elsewhere(source: Path | str, tmp: Path, files: dict[str, str], name: str = "other") -> str:
    """Someone else lands a commit on the source's main (through their own clone)."""
    other = tmp / f"{name}-clone"
    subprocess.run(["git", "clone", "-q", str(source), str(other)], check=True)
    for fname, text in files.items():
        (other / fname).write_text(text)
    g(other, "add", "-A")
    g(other, "commit", "-qm", f"{name}'s change")
    g(other, "push", "-q", "--receive-pack", "git -c receive.denyCurrentBranch=updateInstead receive-pack",
      "origin", "HEAD:main")
    return g(other, "rev-parse", "HEAD")


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Path, Path]:
    """(source, bare clone): a non-bare source with main checked out and clean."""
    source = make_repo(tmp_path / "src", {"README.md": "line one\nline two\n", "app.py": "x = 1\n"})
    clone = tmp_path / "clone.git"
    assert git.clone_rig(str(source), clone) == "main"
    return source, clone


def process(clone: Path, source: Path | str, branch: str = BRANCH, *, mode: str = "merge",
            gates: list[Gate] | None = None, expect_head: str | None = None) -> refinery.MergeResult:
    return refinery.process(str(clone), str(source), branch, "main", mode=mode, gates=gates or [],
                            identity=HUMAN, expect_head=expect_head, gate_runner=host_gate)


def worktrees(clone: Path) -> list[git.WorktreeInfo]:
    return git.list_worktrees(clone)


# ------------------------------------------------------------------ clean merges
def test_merge_mode_lands_with_a_merge_commit_by_the_human(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, source, gates=[Gate("sees the merge", "test -f feature.txt && echo seen")],
                  expect_head=head)
    assert res.ok, res.message
    assert res.landed_on == "main" and res.merge_commit == g(source, "rev-parse", "main")
    assert res.gates[0]["exit_code"] == 0 and "seen" in res.gates[0]["output_tail"]
    sha = res.merge_commit
    assert fmt(source, sha, "%P").split() == [before, head]
    assert fmt(source, sha, "%an <%ae>") == "Bob Boss <bob@example.com>"
    assert fmt(source, sha, "%cn") == "gastown refinery"
    assert fmt(source, head, "%an|%cn") == f"{AUTHOR[0]}|{POLECAT[0]}"  # the polecat's commit is kept as is
    # the clean checkout of main followed the merge
    assert (source / "feature.txt").read_text() == "feature\n"
    assert g(source, "status", "--porcelain") == ""
    assert g(clone, "rev-parse", "origin/main") == sha  # refetched after the push
    assert [w.bare for w in worktrees(clone)] == [True]  # the temporary worktree is gone


def test_rebase_mode_keeps_author_and_committer(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"}, "add feature")
    moved = push_from_elsewhere(source, tmp_path, {"other.txt": "other\n"})  # main moved: a real rebase
    res = process(clone, source, mode="rebase")
    assert res.ok, res.message
    sha = g(source, "rev-parse", "main")
    assert res.merge_commit == sha and res.landed_on == "main"
    assert fmt(source, sha, "%P") == moved  # linear history on top of the new main
    assert fmt(source, sha, "%s") == "add feature"
    assert fmt(source, sha, "%an <%ae>|%cn <%ce>") == f"{AUTHOR[0]} <{AUTHOR[1]}>|{POLECAT[0]} <{POLECAT[1]}>"
    assert (source / "feature.txt").exists() and (source / "other.txt").exists()


def test_squash_mode_one_commit(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    wt = tmp_path / "wt"
    polecat_commit(clone, wt, BRANCH, {"a.txt": "a\n"}, "first step", keep=True)
    polecat_commit(clone, wt, BRANCH, {"b.txt": "b\n"}, "add a and b")
    res = process(clone, source, mode="squash")
    assert res.ok, res.message
    sha = g(source, "rev-parse", "main")
    assert res.merge_commit == sha
    assert fmt(source, sha, "%P") == before  # one commit, one parent
    assert fmt(source, sha, "%s") == "add a and b"
    assert fmt(source, sha, "%an <%ae>") == "Bob Boss <bob@example.com>"
    assert g(source, "ls-tree", "--name-only", "main").split() == ["README.md", "a.txt", "app.py", "b.txt"]


# -------------------------------------------------------------------- conflicts
@pytest.mark.parametrize("mode", ["merge", "rebase", "squash"])
def test_conflicting_branches(rig: tuple[Path, Path], tmp_path: Path, mode: str) -> None:
    source, clone = rig
    polecat_commit(clone, tmp_path / "wt1", "gt/toast/x-1", {"README.md": "toast's line\nline two\n"})
    polecat_commit(clone, tmp_path / "wt2", "gt/maple/x-2", {"README.md": "maple's line\nline two\n"})
    first = process(clone, source, "gt/toast/x-1", mode=mode)
    assert first.ok, first.message
    landed = g(source, "rev-parse", "main")
    second = process(clone, source, "gt/maple/x-2", mode=mode)
    assert not second.ok and second.code == "conflict" and not second.retry
    assert second.files == ["README.md"] and "README.md" in second.message
    assert second.failure()["details"]["files"] == ["README.md"]
    assert g(source, "rev-parse", "main") == landed
    assert [w.bare for w in worktrees(clone)] == [True]


def test_committed_conflict_markers(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    text = "x = 1\n<<<<<<< HEAD\ny = 2\n=======\ny = 3\n>>>>>>> other\n"
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"app.py": text})
    res = process(clone, source)
    assert res.code == "conflict" and res.files == ["app.py"] and "markers" in res.message
    assert g(source, "rev-parse", "main") == before


# ------------------------------------------------------------------------ gates
def test_failing_gate_records_everything_and_pushes_nothing(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    gates = refinery.parse_gates(["true", "echo 'test_add FAILED'; echo boom >&2; exit 3", "touch never-ran"])
    res = process(clone, source, gates=gates)
    assert not res.ok and res.code == "gate_failed" and not res.retry
    assert [r["exit_code"] for r in res.gates] == [0, 3]  # stops at the first red gate
    failed = res.gates[1]
    assert failed["timed_out"] is False and isinstance(failed["duration_s"], float) and failed["duration_s"] >= 0
    assert "test_add FAILED" in failed["output_tail"] and "boom" in failed["output_tail"]
    details = res.failure()["details"]
    assert details["exit_code"] == 3 and details["gate"] == gates[1].name and "boom" in details["output_tail"]
    assert g(source, "rev-parse", "main") == before
    assert g(clone, "rev-parse", "origin/main") == before
    assert g(source, "ls-remote", ".", "refs/heads/gastown/*") == ""
    assert [w.bare for w in worktrees(clone)] == [True]


def test_gate_output_tail_is_bounded(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, source, gates=[Gate("noisy", "seq 1 20000; echo LAST; exit 1")])
    tail = res.gates[0]["output_tail"]
    assert len(tail) <= TAIL and tail.rstrip().endswith("LAST")


def test_gate_timeout_is_quick(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    # a sleep far beyond the test's own timeout: the gate returns only if its process group
    # is killed, and nothing of it is left (bench_timeouts.py: how fast)
    marker = f"{3000 + os.getpid() % 1000}.47"
    res = process(clone, source, gates=[Gate("slow", f"echo started; sleep {marker}", timeout=1)])
    wait_for(lambda: not procs_with(marker), 10, "the timed-out gate's sleep gone")
    assert res.code == "gate_timeout" and "timed out" in res.message
    assert res.gates[0]["timed_out"] is True and res.gates[0]["exit_code"] == 124
    assert "started" in res.gates[0]["output_tail"]
    assert g(source, "rev-parse", "main") == before


def test_gates_do_not_see_the_daemons_environment(rig: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    source, clone = rig
    monkeypatch.setenv("GT_AGENT_TOKEN", "secret")
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, source, gates=[Gate("env", 'test -z "$GT_AGENT_TOKEN" && test -z "$GT_HOME"')])
    assert res.ok, res.gates


def test_parse_gates() -> None:
    gates = refinery.parse_gates(["pytest -q", {"cmd": "make lint", "name": "lint", "timeout": 5},
                                  {"cmd": "/usr/local/bin/ruff check ."}, "x" * 60])
    assert [(x.name, x.cmd, x.timeout) for x in gates[:3]] == [
        ("pytest -q", "pytest -q", 600.0), ("lint", "make lint", 5.0),
        ("ruff check .", "/usr/local/bin/ruff check .", 600.0)]
    assert len(gates[3].name) == 40 and gates[3].cmd == "x" * 60
    assert refinery.parse_gates([]) == []
    for junk in ([42], [None], [["make"]], [{"name": "no cmd"}], [{"cmd": 5}]):
        with pytest.raises(ValueError):
            refinery.parse_gates(junk)


# ---------------------------------------------------------------------- landing
def test_push_to_a_bare_remote(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    work = make_repo(tmp_path / "seed")
    g(work, "push", "-q", str(remote), "main")
    clone = tmp_path / "clone.git"
    git.clone_rig(str(remote), clone)
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, remote)
    assert res.ok and res.landed_on == "main", res.message
    assert g(remote, "rev-parse", "main") == res.merge_commit
    assert g(remote, "show", "main:feature.txt") == "feature"


def test_source_on_another_branch_gets_main_updated(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    g(source, "switch", "-q", "-c", "mywork")
    (source / "scratch.txt").write_text("mine\n")  # dirty, but main is not checked out
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, source)
    assert res.ok and res.landed_on == "main", res.message
    assert g(source, "rev-parse", "main") == res.merge_commit
    assert g(source, "symbolic-ref", "--short", "HEAD") == "mywork" and not (source / "feature.txt").exists()
    assert (source / "scratch.txt").read_text() == "mine\n"


def test_dirty_checkout_is_never_touched(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n", "README.md": "line one\nline 2\n"})
    dirty = b"line one\nline two\nmy unsaved edit \xe2\x9c\x93\r\n"
    (source / "README.md").write_bytes(dirty)
    (source / "notes.txt").write_bytes(b"untracked notes\n")
    res = process(clone, source)
    assert res.ok, res.message
    assert res.landed_on == "gastown/main" and "gastown/main" in res.message and "uncommitted" in res.message
    assert (source / "README.md").read_bytes() == dirty
    assert (source / "notes.txt").read_bytes() == b"untracked notes\n"
    assert not (source / "feature.txt").exists()
    assert g(source, "rev-parse", "main") == before
    assert g(source, "rev-parse", "gastown/main") == res.merge_commit
    assert g(clone, "rev-parse", "origin/gastown/main") == res.merge_commit


def test_target_moved_after_the_fetch_is_a_retry(rig: tuple[Path, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source, clone = rig
    polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    real_fetch = git.fetch
    moved: list[str] = []

    def fetch_then_someone_pushes(repo: Path | str, timeout: float = git.NETWORK_TIMEOUT) -> None:
        real_fetch(repo, timeout)
        if not moved:
            moved.append(push_from_elsewhere(source, tmp_path, {"other.txt": "other\n"}))

    monkeypatch.setattr(git, "fetch", fetch_then_someone_pushes)
    res = process(clone, source)
    assert not res.ok and res.retry and res.code == "push_rejected"
    assert g(source, "rev-parse", "main") == moved[0]  # the other push stands
    assert [w.bare for w in worktrees(clone)] == [True]
    monkeypatch.setattr(git, "fetch", real_fetch)
    again = process(clone, source)  # the retry merges onto the new head
    assert again.ok, again.message
    assert fmt(source, "main", "%P").split()[0] == moved[0]


def test_land_with_a_stale_sha_is_a_retry(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    g(make_repo(tmp_path / "seed"), "push", "-q", str(remote), "main")
    clone = tmp_path / "clone.git"
    git.clone_rig(str(remote), clone)
    wt = tmp_path / "merge-wt"
    g(clone, "worktree", "add", "-q", "--detach", str(wt), "origin/main")
    (wt / "f.txt").write_text("f\n")
    g(wt, "add", "-A")
    g(wt, "commit", "-qm", "stale result")
    stale = g(wt, "rev-parse", "HEAD")
    theirs = push_from_elsewhere(remote, tmp_path, {"other.txt": "x\n"})
    res = refinery.land(str(clone), wt, str(remote), "main", stale)
    assert not res.ok and res.retry and res.code == "push_rejected"
    assert g(remote, "rev-parse", "main") == theirs


def test_expect_head_mismatch(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    before = g(source, "rev-parse", "main")
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    res = process(clone, source, expect_head="0" * 40)
    assert not res.ok and res.code == "head_moved" and head[:12] in res.message
    assert g(source, "rev-parse", "main") == before


def test_forged_origin_ref_never_lands(rig: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent can write the clone's refs (the local sandbox lets it, commits need them):
    right after the merge's fetch it points origin/main at a commit of its own and moves the
    branch it handed in. The merge is built on what the origin says and on the sha handed in
    with `gt done`: neither forgery lands."""
    source, clone = rig
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    tree = g(clone, "rev-parse", "origin/main^{tree}")
    forged = g(clone, "commit-tree", tree, "-p", "origin/main", "-m", "forged base")
    sneaky = g(clone, "commit-tree", tree, "-p", head, "-m", "sneaked after gt done")
    real_fetch = git.fetch

    def fetch_then_forge(repo: Path | str, timeout: float = git.NETWORK_TIMEOUT) -> None:
        real_fetch(repo, timeout)
        g(clone, "update-ref", "refs/remotes/origin/main", forged)

    real_head_sha = git.head_sha

    def head_then_move(path: Path | str, ref: str = "HEAD") -> str:
        sha = real_head_sha(path, ref)
        if ref == BRANCH:  # the check has read the branch: now it moves
            g(clone, "update-ref", f"refs/heads/{BRANCH}", sneaky)
        return sha

    monkeypatch.setattr(git, "fetch", fetch_then_forge)
    monkeypatch.setattr(git, "head_sha", head_then_move)
    res = process(clone, source, expect_head=head)
    assert res.ok, res.message
    landed = g(source, "log", "--format=%s", "main")
    assert "forged base" not in landed and "sneaked after gt done" not in landed, landed
    assert fmt(source, "main", "%P").split()[1] == head


def test_vanished_branch_is_infra(rig: tuple[Path, Path]) -> None:
    source, clone = rig
    res = process(clone, source, "gt/toast/none")
    assert not res.ok and res.code == "infra" and "no longer exists" in res.message


# ------------------------------------------------------------------ pr strategy
@pytest.fixture
def remote_rig(tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    g(make_repo(tmp_path / "seed"), "push", "-q", str(remote), "main")
    clone = tmp_path / "clone.git"
    git.clone_rig(str(remote), clone)
    return remote, clone


def test_poll_pr_waiting_then_merged(remote_rig: tuple[Path, Path], tmp_path: Path) -> None:
    remote, clone = remote_rig
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    assert refinery.open_pr(str(clone), str(remote), BRANCH, "main", "t", "b") is None  # not GitHub: pushed only
    assert g(remote, "rev-parse", BRANCH) == head
    assert refinery.poll_pr(str(clone), BRANCH, "main", head, "pushed") == ("waiting", None)
    human = tmp_path / "human"
    subprocess.run(["git", "clone", "-q", str(remote), str(human)], check=True)
    g(human, "merge", "-q", "--no-ff", "-m", "merge the PR", f"origin/{BRANCH}")
    g(human, "push", "-q", "origin", "main")
    merged = g(human, "rev-parse", "HEAD")
    assert refinery.poll_pr(str(clone), BRANCH, "main", head, "pushed") == ("merged", merged)


def test_poll_pr_closed_when_the_branch_vanishes_unmerged(remote_rig: tuple[Path, Path], tmp_path: Path) -> None:
    remote, clone = remote_rig
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    refinery.open_pr(str(clone), str(remote), BRANCH, "main", "t", "b")
    assert refinery.poll_pr(str(clone), BRANCH, "main", head, "pushed")[0] == "waiting"
    g(remote, "branch", "-D", BRANCH)
    assert refinery.poll_pr(str(clone), BRANCH, "main", head, "pushed") == ("closed", None)


def test_poll_pr_squash_merged_on_github(remote_rig: tuple[Path, Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    remote, clone = remote_rig
    head = polecat_commit(clone, tmp_path / "wt", BRANCH, {"feature.txt": "feature\n"})
    refinery.open_pr(str(clone), str(remote), BRANCH, "main", "t", "b")
    human = tmp_path / "human"
    subprocess.run(["git", "clone", "-q", str(remote), str(human)], check=True)
    g(human, "merge", "-q", "--squash", f"origin/{BRANCH}")
    g(human, "commit", "-qm", "squash-merge the PR")
    g(human, "push", "-q", "origin", "main", f":{BRANCH}")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gh").write_text("#!/bin/sh\necho MERGED\n")
    (fake / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    state, _ = refinery.poll_pr(str(clone), BRANCH, "main", head, "https://github.com/o/r/pull/1")
    assert state == "merged"


# ------------------------------------------------------------------- retirement
def test_retire_branch_clean_and_dirty(remote_rig: tuple[Path, Path], tmp_path: Path) -> None:
    remote, clone = remote_rig
    clean_wt, dirty_wt = tmp_path / "toast", tmp_path / "maple"
    polecat_commit(clone, clean_wt, "gt/toast/x-1", {"a.txt": "a\n"}, keep=True)
    polecat_commit(clone, dirty_wt, "gt/maple/x-2", {"b.txt": "b\n"}, keep=True)
    refinery.open_pr(str(clone), str(remote), "gt/toast/x-1", "main", "t", "b")
    (dirty_wt / "wip.txt").write_text("work in progress\n")

    refinery.retire_branch(str(clone), "gt/toast/x-1", remote=True)
    assert not git.branch_exists(clone, "gt/toast/x-1")
    assert g(remote, "ls-remote", ".", "refs/heads/gt/*") == ""
    assert clean_wt.exists() and g(clean_wt, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    assert (clean_wt / "a.txt").exists()

    refinery.retire_branch(str(clone), "gt/maple/x-2", remote=False)
    assert git.branch_exists(clone, "gt/maple/x-2")
    assert g(dirty_wt, "symbolic-ref", "--short", "HEAD") == "gt/maple/x-2"
    assert (dirty_wt / "wip.txt").read_text() == "work in progress\n"


def test_dirty_checkout_second_merge_also_lands(rig: tuple[Path, Path], tmp_path: Path) -> None:
    source, clone = rig
    polecat_commit(clone, tmp_path / "wt1", "gt/toast/x-1", {"a.txt": "a\n"})
    polecat_commit(clone, tmp_path / "wt2", "gt/maple/x-2", {"b.txt": "b\n"})
    (source / "README.md").write_text("unsaved\n")
    first = process(clone, source, "gt/toast/x-1")
    assert first.ok and first.landed_on == "gastown/main"
    second = process(clone, source, "gt/maple/x-2")
    assert second.ok and second.landed_on == "gastown/main", (second.code, second.message)
    assert g(source, "ls-tree", "--name-only", "gastown/main").split() == ["README.md", "a.txt", "app.py", "b.txt"]
