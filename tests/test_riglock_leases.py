"""Work lands exactly once whatever the witness sweeps: a running merge's or run step's
temporary worktree is leased (gastown.daemon.vcs.riglock) and the sweep leaves it alone, while
a crashed merge's leftover is still cleaned; git work on the shared clone from steps, the
library and the refinery holds the rig's lock. Real git repositories throughout; the merge
is paused at its gate on an event, so the sweep runs exactly while the merge is in flight."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from gastown.daemon.alarm import library, steps, witness
from gastown.daemon.vcs import git, refinery, riglock
from gastown.daemon.runtime import hostgates
from gastown.daemon.vcs.gates import Gate, GateRunner
from tests.conftest import make_repo

BRANCH = "gt/toast/x-1"
HUMAN = {"name": "Bob Boss", "email": "bob@example.com"}


def g(cwd: Path | str, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Path, Path]:
    """(bare origin, the rig's bare clone) with one polecat commit on BRANCH, pushed to the
    origin as the pr strategy does: a tree at that head holds nothing unpushed, so the
    sweep would judge it safe to remove."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    g(make_repo(tmp_path / "seed"), "push", "-q", str(remote), "main")
    clone = tmp_path / "clone.git"
    git.clone_rig(str(remote), clone)
    wt = tmp_path / "polecat"
    git.add_worktree(clone, wt, BRANCH, "origin/main")
    (wt / "feature.txt").write_text("feature\n")
    assert git.commit_all(wt, "polecat work", "Ada", "ada@example.com", "toast", "toast@t")
    git.remove_worktree(clone, wt, "origin/main", force=True)
    g(clone, "push", "-q", "origin", f"{BRANCH}:{BRANCH}")
    g(clone, "fetch", "-q", "origin")
    return remote, clone


def paused(gate_runner: GateRunner, at_gate: threading.Event,
           go_on: threading.Event) -> GateRunner:
    """A gate runner that says where it is and waits for the test before running the gate."""
    def run(gate: Gate, cwd: Path) -> dict[str, Any]:
        at_gate.set()
        assert go_on.wait(60), "the test never let the gate run"
        return gate_runner(gate, cwd)
    return run


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    return t, out


def test_sweep_during_a_merge_keeps_its_worktree_and_the_merge_lands_once(rig: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    remote, clone = rig
    head = g(clone, "rev-parse", BRANCH)
    town = SimpleNamespace(root=tmp_path / "town")
    rigs = [{"repo_path": str(clone), "default_branch": "main"}]
    at_gate, go_on = threading.Event(), threading.Event()
    runner = paused(hostgates.host_gate, at_gate, go_on)
    t, out = in_thread(lambda: refinery.process(
        str(clone), str(remote), BRANCH, "main", mode="rebase", identity=HUMAN, expect_head=head,
        gates=[Gate("sees the work", "test -f feature.txt && git status --short")], gate_runner=runner))
    try:
        assert at_gate.wait(60), "the merge never reached its gate"
        merging = [w.path for w in git.list_worktrees(clone) if w.path.name.startswith(refinery.MERGE_PREFIX)]
        assert len(merging) == 1 and git.worktree_state(merging[0], "origin/main").safe_to_remove
        removed = witness.sweep(town, [], rigs)  # type: ignore[arg-type]
        assert removed == []
        assert (merging[0] / "feature.txt").exists()
    finally:
        go_on.set()
        t.join(60)
    result = out[0]
    assert result.ok, result.message
    assert result.gates[0]["exit_code"] == 0
    assert g(remote, "rev-parse", "main") == head  # landed ...
    assert g(remote, "log", "--format=%s", "main").splitlines().count("polecat work") == 1  # ... once
    assert [w.bare for w in git.list_worktrees(clone)] == [True]  # and cleaned up after itself


def test_sweep_removes_what_a_crashed_merge_left(rig: tuple[Path, Path], tmp_path: Path) -> None:
    """A merge worktree nobody holds a lease on (its merge died with the daemon) is swept."""
    _, clone = rig
    left = Path(tempfile.mkdtemp(prefix=refinery.MERGE_PREFIX))
    left.rmdir()
    g(clone, "worktree", "add", "-q", "--detach", str(left), "origin/main")
    town = SimpleNamespace(root=tmp_path / "town")
    removed = witness.sweep(town, [], [{"repo_path": str(clone), "default_branch": "main"}])  # type: ignore[arg-type]
    assert removed == [str(left.resolve())]
    assert not left.exists() and [w.bare for w in git.list_worktrees(clone)] == [True]


def test_a_leased_worktree_is_kept_until_the_lease_ends(rig: tuple[Path, Path], tmp_path: Path) -> None:
    _, clone = rig
    town = SimpleNamespace(root=tmp_path / "town")
    rigs = [{"repo_path": str(clone), "default_branch": "main"}]
    path = tmp_path / "town" / "merges" / f"{refinery.MERGE_PREFIX}x"
    with riglock.lease(path):
        g(clone, "worktree", "add", "-q", "--detach", str(path), "origin/main")
        assert witness.sweep(town, [], rigs) == []  # type: ignore[arg-type]
        assert refinery.sweep_merge_worktrees(str(clone)) == []
        assert path.exists()
    assert not riglock.leased(path)
    assert refinery.sweep_merge_worktrees(str(clone)) == [str(path.resolve())]


def test_sweep_during_a_run_step_keeps_its_worktree(rig: tuple[Path, Path], tmp_path: Path) -> None:
    """A container town's run step checks out under the town directory, where the sweep looks."""
    _, clone = rig
    town = SimpleNamespace(root=tmp_path / "town")
    rigs = [{"repo_path": str(clone), "default_branch": "main", "name": "app"}]
    at_gate, go_on = threading.Event(), threading.Event()
    runner = paused(hostgates.host_gate, at_gate, go_on)
    t, out = in_thread(lambda: steps.run_on_target(rigs[0], "test -f README.md && echo checked", 60,
                                                   runner=runner, workdir=town.root / "merges"))
    try:
        assert at_gate.wait(60), "the step never started its check"
        assert witness.sweep(town, [], rigs) == []  # type: ignore[arg-type]
    finally:
        go_on.set()
        t.join(60)
    assert out[0]["exit_code"] == 0 and "checked" in out[0]["output_tail"]
    assert [w.bare for w in git.list_worktrees(clone)] == [True]
    assert list((town.root / "merges").iterdir()) == []


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every git command that writes the clone's shared metadata, with whether the calling
    thread held the rig's lock while it ran."""
    seen: list[tuple[str, bool]] = []
    real = git.run

    def run(args: Any, cwd: Any = None, **kw: Any) -> subprocess.CompletedProcess[str]:
        if args and (args[0] == "fetch" or args[:2] in (["worktree", "add"], ["worktree", "remove"])
                     or args[:2] == ["branch", "-f"]):
            seen.append((" ".join(args[:2]), any(riglock.held(r) for r in REPOS)))
        return real(args, cwd, **kw)

    monkeypatch.setattr(git, "run", run)
    return seen


REPOS: list[Path] = []


def test_steps_library_and_refinery_take_the_lock_for_git_on_the_clone(
        rig: tuple[Path, Path], tmp_path: Path, spy: list[tuple[str, bool]]) -> None:
    remote, clone = rig
    REPOS[:] = [clone]
    rig_row = {"repo_path": str(clone), "default_branch": "main", "name": "app"}
    assert steps.run_on_target(rig_row, "true", 60)["exit_code"] == 0
    library.layers(SimpleNamespace(root=tmp_path / "town"), rig_row, "formulas", fetch=True)  # type: ignore[arg-type]
    assert refinery.poll_pr(str(clone), BRANCH, "main", g(clone, "rev-parse", BRANCH), None)[0] == "waiting"
    refinery.conflict_files(str(clone), BRANCH, "main")
    kinds = {what for what, _ in spy}
    assert {"fetch --prune", "worktree add", "worktree remove"} <= kinds
    assert [what for what, locked in spy if not locked] == []
