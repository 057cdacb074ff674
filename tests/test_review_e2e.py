"""refinery.code_review: a refinery agent's verdict gates the merge (scripted reviewer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def town(town: Path) -> Path:
    run_gt("config", "set", "refinery.code_review", "true", check=True)
    return town


def test_approved_change_merges(town: Path) -> None:
    b = gtj("sling", "good", "--rig", "app", "--script", "echo g > g.txt")[0]
    wait_for(lambda: bead(b["id"])["status"] == "closed", 60, "merged")
    mr = gtj("mq", "show", gtj("mq", "list")[0]["id"])[0]
    assert [r["state"] for r in mr["metadata"]["reviews"]] == ["approved"]
    assert (town / "g.txt").read_text() == "g\n"
    agents = {a["name"]: a for a in gtj("agent", "list")}
    assert agents["refinery-app"]["role"] == "refinery" and agents["refinery-app"]["status"] == "idle"


def test_requested_changes_go_back_to_the_polecat_then_fail_once(town: Path) -> None:
    run_gt("config", "set", "refinery.max_retries", "1", check=True)
    b = gtj("bead", "create", "bad", "--rig", "app", "--meta", 'script=["echo b > b.txt"]',
            "--meta", 'review_script=["gt review request-changes \\"please use a loop\\""]')[0]
    failed = wait_for(lambda: bead(b["id"])["status"] == "failed" and bead(b["id"]), 90, "failed")
    assert failed["failure_reason"]["code"] == "rework_exhausted"
    assert "please use a loop" in failed["failure_reason"]["message"]
    events = gtj("bead", "events", b["id"])
    reworks = [e for e in events if e["event_type"] == "rework_requested"]
    assert len(reworks) == 1 and reworks[0]["metadata"]["failure_reason"]["code"] == "changes_requested"
    assert len(gtj("bead", "list", "--type", "escalation")) == 1
    assert not (town / "b.txt").exists()  # a change the reviewer rejected never lands


def test_review_tool_needs_an_agent_token(town: Path) -> None:
    res = run_gt("review", "approve")
    assert res.returncode == 8
