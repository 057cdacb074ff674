"""`gt status` for people: the town at a glance; `gt status MESSAGE` stays the agents' tool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def test_gt_status_shows_working_needs_you_and_retrying(town: Path) -> None:
    run_gt("config", "set", "dispatch.max_attempts", "1", check=True)
    failed = gtj("sling", "always crashes", "--rig", "app", "--script", "exit 3")[0]
    wait_for(lambda: bead(failed["id"])["status"] == "failed", 60, "failed")
    run_gt("config", "set", "dispatch.max_attempts", "5", check=True)
    run_gt("config", "set", "dispatch.backoff_scale", "100", check=True)
    retrying = gtj("sling", "crashes once", "--rig", "app", "--script", "exit 4")[0]
    slow = gtj("sling", "takes a while", "--rig", "app", "--script", "gt status 'counting sheep' && sleep 60")[0]
    later = gtj("bead", "create", "not now")[0]
    run_gt("bead", "hold", later["id"], "--reason", "waiting for design", check=True)
    run_gt("escalate", "need a decision on the schema", check=True)
    wait_for(lambda: (b := bead(retrying["id"]))["status"] == "open" and b.get("retry"), 60, "in backoff")
    wait_for(lambda: any(a["hook_bead_id"] == slow["id"] and a["status"] == "working"
                         and a["status_message"] == "counting sheep" for a in gtj("agent", "list")), 60, "working")
    text = run_gt("status", check=True).stdout
    lines = text.splitlines()
    needs = sum(1 for ln in lines[lines.index("NEEDS YOU") + 1:lines.index("WAITING TO RETRY")])
    assert needs >= 3 and lines[0] == f"town t · 1 working · {needs} need you · 1 waiting to retry", text
    assert lines[1] == "WORKING"
    assert f" {slow['id']} takes a while — “counting sheep” (since " in lines[2]
    assert "NEEDS YOU" in lines
    assert any(ln.startswith("  ! escalation ") and "need a decision on the schema" in ln for ln in lines)
    assert f"  ✗ failed {failed['id']} always crashes: gave up after 1 dispatch attempts" in lines
    assert any(ln.startswith(f"  ⏸ held {later['id']} not now: waiting for design") for ln in lines)
    assert lines[-2] == "WAITING TO RETRY"
    assert lines[-1].startswith(f"  {retrying['id']} crashes once: attempt 2/5 · next try ")
    glance = json.loads(run_gt("status", "--json", check=True).stdout)
    assert [w["bead"] for w in glance["working"]] == [slow["id"]]
    run_gt("agent", "stop", gtj("bead", "show", slow["id"])[0]["assignee"], check=True)


def test_gt_status_without_a_message_is_refused_to_agents(town: Path) -> None:
    res = run_gt("status", env={**os.environ, "GT_AGENT_TOKEN": "x"})
    assert res.returncode != 0 and "say what you are doing" in res.stderr
