"""The per-agent uid layout of a container town's rig clone (pure parts; the real thing runs
in tests/test_trust.py::test_hostile_agent_in_a_container_town)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gastown.daemon.runtime import agentuids
from gastown.daemon.runtime.agentuids import _clone_mode


def test_clone_modes_let_agents_commit_but_not_forge_origin() -> None:
    def d(*rel: str) -> int:
        return _clone_mode(rel, True, 0o40700)

    def f(*rel: str) -> int:
        return _clone_mode(rel, False, 0o100600)

    assert d() == 0o2750  # the clone's top: no new files (packed-refs, gc) from agents
    assert d("refs") == d("logs", "refs") == 0o3770  # a ref of its own (refs/stash), nobody else's moved
    assert d("objects") == d("objects", "ab") == d("objects", "pack") == 0o3770  # writable, sticky
    # branches: a new one may be created anywhere, none moved but by its owner (sticky); gt/<agent>/ is the agent's
    assert d("refs", "heads") == d("refs", "heads", "gt") == d("refs", "heads", "feature") == 0o3770
    assert d("refs", "heads", "gt", "toast") == d("logs", "refs", "heads", "gt", "toast") == 0o2750
    assert d("refs", "remotes") == d("refs", "remotes", "origin") == d("refs", "tags") == 0o2750
    assert d("logs", "refs", "heads") == 0o3770 and d("logs", "refs", "remotes") == d("logs") == 0o2750
    assert d("hooks") == d("worktrees") == 0o2750
    assert f("packed-refs") == f("config") == f("HEAD") == f("refs", "remotes", "origin", "main") == 0o640
    assert f("logs", "refs", "heads", "feature") == 0o660  # a shared branch's reflog is appended to
    assert f("logs", "refs", "heads", "gt", "toast", "x") == 0o640  # toast's: only by toast
    assert _clone_mode(("hooks", "prepare-commit-msg"), False, 0o100700) == 0o750  # runnable, not writable
    assert _clone_mode(("objects", "ab", "cd"), False, 0o100400) == 0o440


def test_clone_of_reads_the_worktree_gitfile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    subprocess.run(["git", "-C", str(src), "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    clone = tmp_path / "rigs" / "app" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(clone)], check=True)
    wt = tmp_path / "worktrees" / "app" / "toast"
    subprocess.run(["git", "-C", str(clone), "worktree", "add", "-q", "-b", "w", str(wt)], check=True)
    assert agentuids.clone_of(wt) == (clone, clone / "worktrees" / "toast")
    assert agentuids.clone_of(tmp_path) is None  # the mayor's workspace: no git worktree


def test_required_sandbox_refuses_a_shared_uid_container_town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon that is not root cannot give agents uids of their own: with `sandbox =
    required` a container town's turns and gates refuse to run (saying why) instead of running
    every agent as one user; `auto` runs them and says they share a uid."""
    from gastown.daemon.runtime import sandbox
    from gastown.daemon.runtime.container import ContainerRuntime
    from gastown.daemon.runtime.base import TurnSpec
    from gastown.daemon.vcs.gates import Gate
    from gastown.protocol import ErrorCode, RpcError

    monkeypatch.setattr(agentuids, "available", lambda: False)
    (tmp_path / "config.toml").write_text('sandbox = "required"\n')
    runtime = ContainerRuntime("podman", tmp_path, town="t")
    spec = TurnSpec(turn_dir=tmp_path / "turns" / "toast" / "0001", argv=["true"], cwd=tmp_path,
                    env={"GT_AGENT": "toast", "HOME": str(tmp_path / "agents" / "toast" / "home")})
    with pytest.raises(RpcError) as exc:
        runtime.start_turn(spec)
    assert exc.value.code == ErrorCode.EXTERNAL and "share one uid" in exc.value.message
    gate = runtime.run_gate(Gate("g", "true"), tmp_path)
    assert gate["exit_code"] == 126 and "share the agents' uid" in gate["output_tail"]
    assert "refuse" in sandbox.state("required", "podman")["reason"]
    assert not sandbox.state("required", "podman")["active"]
    assert "all as one uid" in sandbox.state("auto", "podman")["reason"]
