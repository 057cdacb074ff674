"""Exactly once under crashes: the daemon exits hard (GT_CRASH_AT) at every named point
between intent and effect, is restarted, and the work still lands exactly once.

Each case slings a two-bead convoy of scripted polecats (each bead appends one line to
its own file, a non-idempotent step) into a tiny repository, lets the daemon die at the
point, restarts it and checks: every bead's line is on the target once, one merged merge
request per bead, the convoy landed, no agent or merge request stuck, no temp merge
worktree left registered, no turn runner left running.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gastown import paths
from gastown.client import Client, _connectable
from gastown.daemon.town.crashpoints import EXIT_CODE, POINTS
from gastown.protocol import Method, RpcError
from tests.conftest import DaemonProc, _runner_pids, run_gt
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

BEADS = ("one", "two")


def _sling_convoy(tmp: Path) -> str:
    plan = {"title": "crash convoy", "beads": [
        {"id": b, "title": f"write {b}", "rig": "app", "script": [f"echo 'line {b}' >> {b}.txt"]} for b in BEADS]}
    batch = tmp / "convoy.json"
    batch.write_text(json.dumps(plan))
    out = run_gt("sling", "--batch", str(batch), "--json", check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return str(next(r["id"] for r in rows if r.get("type") == "convoy"))


def _settled(c: Client, convoy: str) -> bool:
    shown = c.call(Method.CONVOY_SHOW, id=convoy)
    agents = c.call(Method.AGENT_LIST)
    return shown["status"] == "closed" and all(a["status"] == "idle" for a in agents if a["role"] == "polecat")


@pytest.mark.parametrize("point", POINTS)
def test_crash_at_point_then_restart_lands_everything_exactly_once(
        point: str, town: Path, gt_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    run_gt("config", "set", "dispatch.max_attempts", "6", check=True)
    run_gt("daemon", "stop", check=True)
    monkeypatch.setenv("GT_CRASH_AT", point)
    monkeypatch.setenv("GT_AGENT_RETRY_S", "60")
    crashing = DaemonProc()
    convoy = _sling_convoy(gt_home)
    assert crashing.proc.wait(timeout=120) == EXIT_CODE, f"the daemon did not crash at {point}"
    assert f"GT_CRASH_AT={point}" in paths.log_path().read_text()

    monkeypatch.delenv("GT_CRASH_AT")
    restarted = DaemonProc()  # the crashed daemon's socket file is still there: wait for an answer
    wait_for(lambda: _connectable(paths.socket_path()), 30, "the restarted daemon to answer")
    try:
        with restarted.client(town="t") as c:
            wait_for(lambda: _settled(c, convoy), 120, f"the convoy to land after a crash at {point}")
            mrs = c.call(Method.MQ_LIST)
            beads = c.call(Method.BEAD_LIST, type="issue")
            clone = c.call(Method.RIG_SHOW, name="app")["repo_path"]
        for b in beads:
            assert b["status"] == "closed", b
        merged = sorted(m["source_bead_id"] for m in mrs if m["status"] == "closed")
        assert merged == sorted(b["id"] for b in beads), mrs  # one merged MR per bead
        assert not [m for m in mrs if m["status"] in ("open", "in_progress")], mrs
        subprocess.run(["git", "-C", str(town), "checkout", "-q", "--", "."], check=True)
        for name in BEADS:
            lines = (town / f"{name}.txt").read_text().splitlines()
            assert lines == [f"line {name}"], (name, lines)
        listed = subprocess.run(["git", "-C", clone, "worktree", "list"], capture_output=True,
                                text=True, check=True).stdout
        assert "gt-merge-" not in listed, listed
        wait_for(lambda: not _runner_pids(gt_home), 60, "every turn runner to exit")
    finally:
        restarted.stop()
    assert "Traceback" not in paths.log_path().read_text().split(f"GT_CRASH_AT={point}")[-1]


def test_random_sigkills_lose_and_duplicate_nothing(town: Path, gt_home: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A soak: SIGKILL the daemon at seeded random moments of progress (after a random
    number of new bead events), five times, then let it finish: the same checks."""
    import random
    import signal

    rng = random.Random(12)
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    run_gt("config", "set", "dispatch.max_attempts", "10", check=True)
    run_gt("daemon", "stop", check=True)
    monkeypatch.setenv("GT_AGENT_RETRY_S", "60")
    d = DaemonProc()
    convoy = _sling_convoy(gt_home)

    def progress() -> int:
        try:
            with Client(autostart=False, town="t") as c:
                return sum(len(c.call(Method.BEAD_EVENTS, id=b["id"])) for b in c.call(Method.BEAD_LIST))
        except (OSError, RpcError):  # a daemon just restarted may still be opening its towns
            return -1

    kills = 0
    for _ in range(5):
        wait_for(lambda: _connectable(paths.socket_path()), 30, "the daemon to answer")
        start = wait_for(lambda: (n := progress()) >= 0 and n + 1, 30, "an answer") - 1
        if _landed(convoy):
            break
        target = start + rng.randint(1, 6)
        wait_for(lambda: progress() >= target or _landed(convoy), 120, "progress")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        kills += 1
        d = DaemonProc()
    wait_for(lambda: _connectable(paths.socket_path()), 30, "the daemon to answer")
    try:
        with d.client(town="t") as c:
            wait_for(lambda: _settled(c, convoy), 180, "the convoy to land after the kills")
            assert kills >= 3, f"only {kills} kills happened before the convoy landed"
            mrs = c.call(Method.MQ_LIST)
            beads = c.call(Method.BEAD_LIST, type="issue")
        assert sorted(m["source_bead_id"] for m in mrs if m["status"] == "closed") == sorted(b["id"] for b in beads)
        subprocess.run(["git", "-C", str(town), "checkout", "-q", "--", "."], check=True)
        for name in BEADS:
            assert (town / f"{name}.txt").read_text().splitlines() == [f"line {name}"]
        wait_for(lambda: not _runner_pids(gt_home), 60, "every turn runner to exit")
    finally:
        d.stop()


def _landed(convoy: str) -> bool:
    try:
        with Client(autostart=False, town="t") as c:
            return bool(c.call(Method.CONVOY_SHOW, id=convoy)["status"] == "closed")
    except (OSError, RpcError):
        return False
