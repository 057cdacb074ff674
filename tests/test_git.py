"""Git primitives against real repositories in temp dirs (git CLI, no mocks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from gastown.daemon.vcs import git as g
from tests.helpers import procs_with, wait_for

ID_ENV = {
    "GIT_AUTHOR_NAME": "Test Human",
    "GIT_AUTHOR_EMAIL": "human@example.com",
    "GIT_COMMITTER_NAME": "Test Human",
    "GIT_COMMITTER_EMAIL": "human@example.com",
}


def sh(cwd: Path, *args: str) -> str:
    """Plain git for test setup (the module under test is not used to build fixtures)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    env.update(ID_ENV)
    r = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"git {args}: {r.stderr}"
    return r.stdout.strip()


def write_commit(repo: Path, name: str, text: str, msg: str) -> str:
    (repo / name).write_text(text)
    sh(repo, "add", name)
    sh(repo, "commit", "-q", "-m", msg)
    return sh(repo, "rev-parse", "HEAD")


@pytest.fixture
def tmp() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gt-git-test-"))
    try:
        yield d.resolve()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_git_config(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user/system git config leaks in (signing, hooks paths, default branch...)."""
    cfg = tmp / "gitconfig"
    cfg.write_text("[user]\n\tname = Test Human\n\temail = human@example.com\n"
                   "[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp))


@pytest.fixture
def source(tmp: Path) -> Path:
    """A non-bare 'user' repository: main with two commits, plus a feature branch."""
    src = tmp / "src"
    src.mkdir()
    sh(src, "init", "-q", "-b", "main")
    write_commit(src, "README", "hello\n", "initial")
    write_commit(src, "a.txt", "a\n", "add a")
    sh(src, "branch", "feature")
    return src


@pytest.fixture
def rig(tmp: Path, source: Path) -> Path:
    dest = tmp / "town" / "rigs" / "r1" / "repo.git"
    assert g.clone_rig(str(source), dest, None) == "main"
    return dest


# --------------------------------------------------------------------------- sources


def test_is_url() -> None:
    for s in ["https://github.com/a/b.git", "http://h/x", "ssh://git@h/x", "git://h/x",
              "file:///tmp/x", "git@github.com:a/b.git", "GIT+SSH://h/x"]:
        assert g.is_url(s), s
    for s in ["/tmp/x", "./repo", "repo", "~/code/x", "./a@b:c", "C:"]:
        assert not g.is_url(s), s


def test_validate_non_git_dir(tmp: Path) -> None:
    plain = tmp / "plain"
    plain.mkdir()
    with pytest.raises(g.GitError) as ei:
        g.validate_source(str(plain))
    assert ei.value.message == f"not a git repository: {plain}"
    assert "\n" not in str(ei.value)
    with pytest.raises(g.GitError, match="no such directory"):
        g.validate_source(str(tmp / "missing"))


def test_validate_subdir_of_repo_is_not_the_repo(source: Path) -> None:
    sub = source / "sub"
    sub.mkdir()
    with pytest.raises(g.GitError, match="not a git repository: .*sub"):
        g.validate_source(str(sub))
    with pytest.raises(g.GitError, match="not a git repository"):
        g.validate_source(str(source / ".git"))


def test_validate_empty_repo(tmp: Path) -> None:
    empty = tmp / "empty"
    empty.mkdir()
    sh(empty, "init", "-q")
    with pytest.raises(g.GitError) as ei:
        g.validate_source(str(empty))
    assert ei.value.message == f"repository has no commits: {empty}"
    with pytest.raises(g.GitError, match="repository has no commits"):
        g.validate_source(f"file://{empty}")


def test_validate_local_and_url(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(source.parent)
    assert g.validate_source("src") == str(source)  # relative path -> absolute
    url = f"file://{source}"
    assert g.validate_source(url) == url
    with pytest.raises(g.GitError) as ei:
        g.validate_source(f"file://{source.parent}/nope")
    assert ei.value.message.startswith(f"cannot read repository file://{source.parent}/nope: ")
    assert "\n" not in ei.value.message


def test_default_branch(source: Path) -> None:
    assert g.default_branch(str(source)) == "main"
    sh(source, "symbolic-ref", "HEAD", "refs/heads/feature")
    assert g.default_branch(str(source)) == "feature"
    assert g.default_branch(f"file://{source}") == "feature"
    sh(source, "checkout", "-q", "--detach", "main")
    with pytest.raises(g.GitError, match="detached"):
        g.default_branch(str(source))


# --------------------------------------------------------------------------- clone


def test_clone_bare_with_origin_refs(rig: Path, source: Path) -> None:
    assert sh(rig, "rev-parse", "--is-bare-repository") == "true"
    assert sh(rig, "config", "--get", "remote.origin.fetch") == "+refs/heads/*:refs/remotes/origin/*"
    assert g.head_sha(rig, "origin/main") == sh(source, "rev-parse", "main")
    assert g.head_sha(rig, "origin/feature") == sh(source, "rev-parse", "feature")
    assert sh(rig, "for-each-ref", "refs/heads/") == ""  # no stale local copies
    assert sh(rig, "symbolic-ref", "refs/remotes/origin/HEAD") == "refs/remotes/origin/main"
    # fetch picks up new upstream commits
    new = write_commit(source, "b.txt", "b\n", "add b")
    g.fetch(rig)
    assert g.head_sha(rig, "origin/main") == new


def test_clone_explicit_branch_and_url(tmp: Path, source: Path) -> None:
    dest = tmp / "c2"
    assert g.clone_rig(f"file://{source}", dest, "feature") == "feature"
    assert g.branch_exists(dest, "feature") is False
    assert g.head_sha(dest, "origin/feature") == sh(source, "rev-parse", "feature")


def test_clone_missing_branch_leaves_nothing(tmp: Path, source: Path) -> None:
    dest = tmp / "deep" / "c3"
    with pytest.raises(g.GitError) as ei:
        g.clone_rig(str(source), dest, "nope")
    assert ei.value.message == f"branch nope not found in {source}"
    assert not dest.exists()
    # an empty destination dir given by the caller is kept, but emptied
    dest.mkdir(parents=True)
    with pytest.raises(g.GitError):
        g.clone_rig(str(source), dest, "nope")
    assert dest.is_dir() and not any(dest.iterdir())
    # a non-empty destination is refused up front and left untouched
    (dest / "keep").write_text("x")
    with pytest.raises(g.GitError, match="destination already exists"):
        g.clone_rig(str(source), dest, None)
    assert (dest / "keep").exists()


def test_clone_bad_source_message(tmp: Path) -> None:
    with pytest.raises(g.GitError) as ei:
        g.clone_rig(str(tmp / "missing"), tmp / "c4", None)
    assert ei.value.message.startswith("git clone failed: ")
    assert "Cloning into" not in ei.value.message
    assert not (tmp / "c4").exists()


# --------------------------------------------------------------------------- worktrees


def test_add_worktree_and_reuse_branch(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "toast"
    br = "gt/toast/gt-abc"
    g.add_worktree(rig, wt, br, "origin/main")
    assert (wt / "a.txt").read_text() == "a\n"
    assert g.branch_exists(rig, br)
    g.add_worktree(rig, wt, br, "origin/main")  # idempotent
    (wt / "work.txt").write_text("w")
    sha = g.commit_all(wt, "work", "H", "h@x.org", "A", "a@x.org", {})
    assert sha
    # no upstream on the agent branch
    assert subprocess.run(["git", "-C", str(wt), "rev-parse", "--abbrev-ref", "@{u}"],
                          capture_output=True).returncode != 0
    g.remove_worktree(rig, wt, "origin/main", force=True)
    assert not wt.exists()
    # re-adding the existing branch reuses it (commit kept), at a new path
    wt2 = tmp / "wt" / "toast2"
    g.add_worktree(rig, wt2, br, "origin/main")
    assert g.head_sha(wt2) == sha
    infos = [w for w in g.list_worktrees(rig) if not w.bare]
    assert [(w.path, w.branch) for w in infos] == [(wt2, br)]
    # the same branch cannot be checked out twice
    with pytest.raises(g.GitError, match="git worktree add failed"):
        g.add_worktree(rig, tmp / "wt" / "other", br, "origin/main")
    with pytest.raises(g.GitError, match="invalid branch name"):
        g.add_worktree(rig, tmp / "wt" / "x", "gt/bad..name", "origin/main")
    with pytest.raises(g.GitError, match="base origin/nope not found"):
        g.add_worktree(rig, tmp / "wt" / "y", "gt/y/z", "origin/nope")


def test_add_worktree_after_dir_deleted(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "gone"
    g.add_worktree(rig, wt, "gt/a/b", "origin/main")
    shutil.rmtree(wt)  # e.g. a crash mid-cleanup: stale metadata remains
    g.add_worktree(rig, wt, "gt/a/b", "origin/main")
    assert (wt / "README").exists()


def test_commit_all_identity_and_trailers(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "c"
    g.add_worktree(rig, wt, "gt/nux/gt-abc", "origin/main")
    assert g.commit_all(wt, "nothing", "Alice", "alice@example.com", "nux", "nux@gt.local", {}) is None
    (wt / "new.txt").write_text("n\n")
    (wt / "a.txt").write_text("changed\n")
    (wt / "README").unlink()
    sha = g.commit_all(
        wt,
        "Fix the thing\n\nLonger body.\n",
        "Alice", "alice@example.com", "nux (gastown polecat)", "nux@gt.local",
        {"Bead-ID": "gt-abc", "Requested-by": "Alice <alice@example.com>"},
    )
    assert sha and sha == g.head_sha(wt)
    fmt = sh(wt, "log", "-1", "--format=%an|%ae|%cn|%ce|%s")
    assert fmt == "Alice|alice@example.com|nux (gastown polecat)|nux@gt.local|Fix the thing"
    body = sh(wt, "log", "-1", "--format=%B")
    assert body.endswith("Longer body.\n\nBead-ID: gt-abc\nRequested-by: Alice <alice@example.com>")
    assert sh(wt, "status", "--porcelain") == ""
    entries = g.log(wt, "HEAD", 5)
    assert len(entries) == 3
    e = entries[0]
    assert e["sha"] == sha and e["subject"] == "Fix the thing"
    assert e["author"] == "Alice <alice@example.com>"
    assert e["committer"] == "nux (gastown polecat) <nux@gt.local>"
    assert e["trailers"] == {"Bead-ID": "gt-abc", "Requested-by": "Alice <alice@example.com>"}
    assert entries[1]["trailers"] == {}
    assert len(g.log(rig, "origin/main..gt/nux/gt-abc", 10)) == 1
    assert g.commits_ahead(rig, "origin/main", "gt/nux/gt-abc") == 1
    d = g.diff(rig, "origin/main", "gt/nux/gt-abc")
    assert "+changed" in d and "new.txt" in d and "deleted file mode" in d
    with pytest.raises(g.GitError, match="commit message is empty"):
        g.commit_all(wt, "  \n", "A", "a@x", "B", "b@x", {})
    with pytest.raises(g.GitError, match="invalid trailer"):
        (wt / "z").write_text("z")
        g.commit_all(wt, "m", "A", "a@x", "B", "b@x", {"Bad Key": "v"})


def test_worktree_state_and_ignored_files(tmp: Path, rig: Path, source: Path) -> None:
    write_commit(source, ".gitignore", "build/\n", "ignore build")
    g.fetch(rig)
    wt = tmp / "wt" / "s"
    g.add_worktree(rig, wt, "gt/s/gt-1", "origin/main")
    st = g.worktree_state(wt, "origin/main")
    assert (st.dirty, st.commits_ahead, st.unpushed, st.branch) == (False, 0, 0, "gt/s/gt-1")
    assert st.head == g.head_sha(rig, "origin/main") and st.safe_to_remove
    (wt / "build").mkdir()
    (wt / "build" / "out.o").write_text("bin")
    assert not g.worktree_state(wt, "origin/main").dirty  # ignored files do not count
    (wt / "notes.txt").write_text("untracked")
    st = g.worktree_state(wt, "origin/main")
    assert st.dirty and st.dirty_files == ("notes.txt",)
    with pytest.raises(g.GitError, match="not a git worktree"):
        g.worktree_state(tmp, "origin/main")
    (wt / "notes.txt").unlink()
    g.remove_worktree(rig, wt, "origin/main")  # ignored build output does not block removal
    assert not wt.exists()


def test_remove_refused_when_dirty(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "d"
    g.add_worktree(rig, wt, "gt/d/gt-1", "origin/main")
    (wt / "a.txt").write_text("modified\n")
    (wt / "scratch.py").write_text("x")
    with pytest.raises(g.UnsafeWorktreeError) as ei:
        g.remove_worktree(rig, wt, "origin/main")
    msg = ei.value.message
    assert "2 uncommitted file(s)" in msg and "a.txt" in msg and "scratch.py" in msg
    assert "\n" not in msg and isinstance(ei.value, g.GitError)
    assert (wt / "scratch.py").exists()


def test_remove_refused_when_unpushed(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "u"
    g.add_worktree(rig, wt, "gt/u/gt-1", "origin/main")
    for i in range(2):
        (wt / f"f{i}").write_text(str(i))
        g.commit_all(wt, f"c{i}", "H", "h@x.org", "A", "a@x.org", {})
    st = g.worktree_state(wt, "origin/main")
    assert (st.dirty, st.commits_ahead, st.unpushed) == (False, 2, 2)
    with pytest.raises(g.UnsafeWorktreeError, match=r"2 unpushed commit\(s\) on gt/u/gt-1"):
        g.remove_worktree(rig, wt, "origin/main")
    assert wt.exists()
    with pytest.raises(g.UnsafeWorktreeError, match="refusing to delete branch"):
        g.delete_branch(rig, "gt/u/gt-1")


def test_remove_allowed_when_pushed_or_merged(tmp: Path, rig: Path, source: Path) -> None:
    # pushed: the branch exists on origin (PR strategy)
    wt = tmp / "wt" / "p"
    g.add_worktree(rig, wt, "gt/p/gt-1", "origin/main")
    (wt / "p").write_text("p")
    g.commit_all(wt, "p", "H", "h@x.org", "A", "a@x.org", {})
    sh(rig, "push", "-q", "origin", "gt/p/gt-1")
    g.fetch(rig)
    st = g.worktree_state(wt, "origin/main")
    assert (st.commits_ahead, st.unpushed) == (1, 0)
    g.remove_worktree(rig, wt, "origin/main")
    assert not wt.exists() and g.branch_exists(rig, "gt/p/gt-1")
    assert [w for w in g.list_worktrees(rig) if not w.bare] == []
    # merged: the commits landed on origin's main (refinery merge), then fetched
    wt = tmp / "wt" / "m"
    g.add_worktree(rig, wt, "gt/m/gt-2", "origin/main")
    (wt / "m").write_text("m")
    sha = g.commit_all(wt, "m", "H", "h@x.org", "A", "a@x.org", {})
    assert sha
    sh(rig, "push", "-q", "origin", f"{sha}:refs/heads/main-next")
    sh(source, "merge", "-q", "--ff-only", "main-next")
    sh(source, "branch", "-D", "main-next")
    g.fetch(rig)
    assert g.head_sha(rig, "origin/main") == sha
    g.remove_worktree(rig, wt, "origin/main")
    assert not wt.exists()
    assert g.delete_branch(rig, "gt/m/gt-2") is True
    assert g.delete_branch(rig, "gt/m/gt-2") is False
    # removing again is a no-op
    g.remove_worktree(rig, wt, "origin/main")


def test_remove_force(tmp: Path, rig: Path) -> None:
    wt = tmp / "wt" / "f"
    g.add_worktree(rig, wt, "gt/f/gt-1", "origin/main")
    (wt / "f").write_text("f")
    sha = g.commit_all(wt, "f", "H", "h@x.org", "A", "a@x.org", {})
    (wt / "dirty").write_text("d")
    sh(wt, "worktree", "lock", str(wt))
    g.remove_worktree(rig, wt, "origin/main", force=True)
    assert not wt.exists()
    assert g.head_sha(rig, "gt/f/gt-1") == sha  # commits survive on the branch
    assert g.delete_branch(rig, "gt/f/gt-1", force=True) is True


def test_remove_rejects_foreign_directory(tmp: Path, rig: Path) -> None:
    plain = tmp / "plain"
    plain.mkdir()
    with pytest.raises(g.GitError, match="is not a worktree of"):
        g.remove_worktree(rig, plain, "origin/main", force=True)
    assert plain.exists()


# --------------------------------------------------------------------------- plumbing


def test_caller_git_env_is_ignored(tmp: Path, rig: Path, source: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    wt = tmp / "wt" / "e"
    g.add_worktree(rig, wt, "gt/e/gt-1", "origin/main")
    monkeypatch.setenv("GIT_DIR", str(source / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(source))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Leaked")
    (wt / "e").write_text("e")
    sha = g.commit_all(wt, "e", "H", "h@x.org", "A", "a@x.org", {})
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert sha and sh(wt, "log", "-1", "--format=%an") == "H"
    assert sh(source, "status", "--porcelain") == ""


def test_errors_are_one_line(rig: Path) -> None:
    with pytest.raises(g.GitError) as ei:
        g.head_sha(rig, "origin/nope")
    assert ei.value.message == f"unknown revision origin/nope in {rig}"
    with pytest.raises(g.GitError, match="invalid revision"):
        g.head_sha(rig, "--output=/tmp/x")
    with pytest.raises(g.GitError) as ei:
        g.log(rig, "nope", 1)
    assert ei.value.message.startswith("git log failed: ") and "\n" not in ei.value.message
    assert ei.value.returncode == 128 and ei.value.stderr


def test_timeout_kills_process_group(tmp: Path) -> None:
    # a sleep far beyond the test's own timeout: run() returns only if it kills the whole
    # group (git's shell and its sleep), and nothing of it is left (bench_timeouts.py: how fast)
    marker = f"{3000 + os.getpid() % 1000}.43"
    with pytest.raises(g.GitError, match=r"timed out after 0.5s"):
        g.run(["-c", f"alias.slow=!sleep {marker}", "slow"], tmp, what="git slow", timeout=0.5)
    wait_for(lambda: not procs_with(marker), 10, "the timed-out command's sleep gone")
