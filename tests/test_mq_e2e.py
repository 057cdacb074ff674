"""The merge queue through the real daemon: gates, rework, serialisation, retry, the pr strategy."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import make_repo, run_gt
from tests.helpers import QUICK_IDLE_S, bead, gtj, wait_for, wait_ticks

pytestmark = pytest.mark.slow

# The scripted polecat: the first attempt leaves a marker and a wrong mul; the rework (same
# polecat, same worktree, same branch) sees the marker and fixes it.
WORK_SH = """if [ -f .attempt1 ]; then
  printf 'def mul(a, b):\\n    return a * b\\n' > mul.py
  rm .attempt1
else
  printf 'def mul(a, b):\\n    return a + b\\n' > mul.py
  touch .attempt1
fi
"""
STATUSES = ("open", "in_progress", "in_review", "closed", "failed")
MUL_GATE = "python -c \"import mul; assert mul.mul(2, 3) == 6, 'mul(2, 3) is %s' % mul.mul(2, 3)\""


def mrs_of(source_id: str) -> list[dict[str, Any]]:
    return [m for m in gtj("mq", "list") if m["source_bead_id"] == source_id]


def config(key: str, value: Any) -> None:
    run_gt("config", "set", key, json.dumps(value), "--rig", "app", check=True)


def git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def status_times(bead_id: str) -> dict[str, str]:
    """First time the bead entered each status (ISO timestamps sort as strings)."""
    out: dict[str, str] = {}
    for e in gtj("bead", "events", bead_id):
        if e["old_value"] in STATUSES and e["new_value"] in STATUSES and e["new_value"] not in out:
            out[e["new_value"]] = e["created_at"]
    return out


def _town(gt_home: Path, source: Path) -> Iterator[Path]:
    run_gt("town", "create", "t", check=True)
    run_gt("rig", "add", "app", str(source), check=True)
    os.environ["GT_TOWN"] = "t"
    try:
        config("dispatch.backoff_scale", 0)
        run_gt("config", "set", "loop.idle_seconds", QUICK_IDLE_S, check=True)  # wait_ticks: idle ticks come quickly
        yield source
    finally:
        os.environ.pop("GT_TOWN", None)
        run_gt("daemon", "stop")


@pytest.fixture
def town(gt_home: Path) -> Iterator[Path]:
    """A rig whose origin is a local, non-bare repository with main checked out (clean)."""
    yield from _town(gt_home, make_repo(gt_home / "src" / "app", {"README.md": "# app\n", "work.sh": WORK_SH}))


@pytest.fixture
def bare_town(gt_home: Path) -> Iterator[Path]:
    """A rig whose origin is a bare repository (stands in for a hosted remote)."""
    remote = gt_home / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = make_repo(gt_home / "seed", {"README.md": "# app\n"})
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(remote), "main"], check=True)
    yield from _town(gt_home, remote)


def test_failing_gate_then_rework_lands(town: Path) -> None:
    config("refinery.gates", [MUL_GATE])
    slung = gtj("sling", "add mul", "--rig", "app", "--script", "sh work.sh")[0]
    closed = wait_for(lambda: bead(slung["id"])["status"] in ("closed", "failed") and bead(slung["id"]), 60, "closed")
    assert closed["status"] == "closed", closed.get("failure_reason")
    mrs = mrs_of(slung["id"])
    assert sorted(m["status"] for m in mrs) == ["closed", "failed"]
    assert sorted(m["outcome"] for m in mrs) == ["failed", "merged"]  # what happened, not just the bead status
    listed = run_gt("mq", "list", check=True).stdout
    assert [line.split()[1] for line in listed.splitlines()[1:]] == [m["outcome"] for m in mrs]
    assert [m["id"] for m in gtj("mq", "list", "--status", "merged")] == [m["id"] for m in mrs if m["merge_commit"]]
    assert len({m["branch"] for m in mrs}) == 1 and len({m["head_sha"] for m in mrs}) == 2
    failed = next(gtj("mq", "show", m["id"])[0] for m in mrs if m["status"] == "failed")
    assert failed["failure_reason"]["code"] == "gate_failed"
    assert "mul(2, 3) is 5" in failed["failure_reason"]["details"]["output_tail"]
    assert failed["gates"][0]["exit_code"] == 1 and "mul(2, 3) is 5" in failed["gates"][0]["output_tail"]
    shown = run_gt("mq", "show", failed["id"], check=True).stdout
    assert "FAILED: [gate_failed]" in shown and "mul(2, 3) is 5" in shown
    merged = next(gtj("mq", "show", m["id"])[0] for m in mrs if m["status"] == "closed")
    assert merged["gates"][0]["exit_code"] == 0 and merged["merge_commit"] == git_out(town, "rev-parse", "main")
    events = [e["event_type"] for e in gtj("bead", "events", slung["id"])]
    assert "rework_requested" in events and "merged" in events
    assert len(gtj("agent", "list")) == 1  # the same polecat did the rework
    assert "a * b" in git_out(town, "show", "main:mul.py")
    assert "a * b" in (town / "mul.py").read_text()  # the clean checkout followed
    assert not (town / ".attempt1").exists()


def test_one_merge_at_a_time_per_target(town: Path) -> None:
    config("refinery.gates", ["sleep 1"])
    a = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]
    b = gtj("sling", "file b", "--rig", "app", "--script", "echo b > b.txt")[0]
    wait_for(lambda: all(bead(x["id"])["status"] in ("closed", "failed") for x in (a, b)), 60, "both merged")
    assert bead(a["id"])["status"] == bead(b["id"])["status"] == "closed"
    spans = []
    for x in (a, b):
        (mr,) = mrs_of(x["id"])
        assert mr["status"] == "closed" and mr["retry_count"] == 0
        assert gtj("mq", "show", mr["id"])[0]["gates"][0]["duration_s"] >= 1
        times = status_times(mr["id"])
        spans.append((times["in_progress"], times["closed"]))
    spans.sort()
    assert spans[0][1] <= spans[1][0], f"gate runs overlapped: {spans}"
    assert git_out(town, "ls-tree", "--name-only", "main").split() == ["README.md", "a.txt", "b.txt", "work.sh"]


def test_mq_retry(town: Path, gt_home: Path) -> None:
    go, ok = gt_home / "go", gt_home / "pass"
    run_gt("config", "set", "sandbox", "off", check=True)  # the gate watches host files (a sandbox hides them)
    # the gate waits for the test's go-ahead, then passes only once the "environment" is fixed
    config("refinery.gates", [f"for i in $(seq 300); do [ -f {go} ] && break; sleep 0.1; done; "
                              f"test -f {ok} || (echo env broken; exit 1)"])
    slung = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]
    (first,) = wait_for(lambda: [m for m in mrs_of(slung["id"]) if m["status"] == "in_progress"], 60, "merging")
    config("rig.max_polecats", 0)  # no rework dispatch: the human retries instead
    go.touch()
    wait_for(lambda: bead(first["id"])["status"] == "failed", 30, "first MR failed")
    # rig.max_polecats = 0: the source waits, open and unassigned. The first tick after the
    # failure would plan its dispatch and the dispatch hooks it before the next tick's snapshot
    wait_ticks(3)
    source = bead(slung["id"])
    assert source["status"] == "open" and source["assignee"] is None
    assert source["failure_reason"]["code"] == "gate_failed"
    ok.touch()
    res = run_gt("mq", "retry", first["id"], "--json", check=True)
    second = json.loads(res.stdout)
    assert second["id"] != first["id"] and second["branch"] == first["branch"]
    assert second["head_sha"] == first["head_sha"] and second["metadata"]["retry_of"] == first["id"]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 30, "source closed")
    assert bead(second["id"])["status"] == "closed" and bead(first["id"])["status"] == "failed"
    assert git_out(town, "show", "main:a.txt") == "a"
    for mr in (second, first):  # a closed MR, and a failed one whose source is done: nothing to retry
        res = run_gt("mq", "retry", mr["id"])
        assert res.returncode == 5, res.stderr
    assert len(mrs_of(slung["id"])) == 2


def test_rework_exhausted_escalates_once(town: Path) -> None:
    config("refinery.gates", ["echo always red; exit 1"])
    config("refinery.max_retries", 1)
    slung = gtj("sling", "never good", "--rig", "app", "--script", "date +%s%N >> n.txt")[0]
    failed = wait_for(lambda: bead(slung["id"])["status"] == "failed" and bead(slung["id"]), 60, "failed")
    assert failed["failure_reason"]["code"] == "rework_exhausted"
    # no storm: a redispatch, another MR or escalation would come from the next tick or two
    wait_ticks(3)
    assert bead(slung["id"])["status"] == "failed"
    mrs = mrs_of(slung["id"])
    assert [m["status"] for m in mrs] == ["failed", "failed"]
    escalations = gtj("bead", "list", "--type", "escalation")
    assert len(escalations) == 1 and slung["id"] in escalations[0]["title"]
    assert all(a["status"] == "idle" and a["hook_bead_id"] is None for a in gtj("agent", "list"))
    assert git_out(town, "ls-tree", "--name-only", "main").split() == ["README.md", "work.sh"]


def test_pr_strategy_waits_for_a_human_merge(bare_town: Path, gt_home: Path) -> None:
    remote = bare_town
    config("refinery.strategy", "pr")
    slung = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]

    def pushed() -> dict[str, Any] | None:
        mrs = mrs_of(slung["id"])
        return mrs[0] if mrs and mrs[0]["pr_url"] else None

    mr = wait_for(pushed, 60, "branch pushed")
    assert mr["status"] == "in_progress" and mr["pr_url"] == "pushed"
    assert git_out(remote, "rev-parse", mr["branch"]) == mr["head_sha"]
    assert bead(slung["id"])["status"] == "in_review"
    assert git_out(remote, "ls-tree", "--name-only", "main").split() == ["README.md"]  # nothing merged by us
    human = gt_home / "human"
    subprocess.run(["git", "clone", "-q", str(remote), str(human)], check=True)
    git_out(human, "merge", "-q", "--no-ff", "-m", "merge the PR", f"origin/{mr['branch']}")
    git_out(human, "push", "-q", "origin", "main")
    merged = git_out(human, "rev-parse", "HEAD")
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 30, "source closed after the human merge")
    shown = gtj("mq", "show", mr["id"])[0]
    assert shown["status"] == "closed" and shown["outcome"] == "merged" and shown["merge_commit"] == merged
    assert "status         merged" in run_gt("mq", "show", mr["id"], check=True).stdout
    wait_for(lambda: not git_out(remote, "ls-remote", ".", f"refs/heads/{mr['branch']}"), 10, "branch retired")


def test_gate_tables_can_be_configured(town: Path) -> None:
    config("refinery.gates", [{"name": "quick", "cmd": "true", "timeout": 5}])
    slung = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 60, "closed")
    assert gtj("mq", "list")[0]["gates"][0]["name"] == "quick"
