"""Transcripts through the whole loop: a real daemon runs the scripted agent in the real
turn runner; `gt agent logs` and `gt bead log` render what it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def test_agent_logs_and_bead_log_render_the_turn(town: Path) -> None:
    slung = gtj("sling", "add notes", "--rig", "app", "--script", "echo hello > notes.txt && echo wrote notes",
                "--script", "ls missing-file || true")[0]
    wait_for(lambda: bead(slung["id"])["status"] in ("in_review", "closed")
             and gtj("agent", "show", "toast")[0]["turn_ended_at"], 60, "delivered")
    shown = run_gt("agent", "logs", "toast", check=True).stdout.splitlines()
    assert shown[0] == "scripted agent toast: 2 step(s) for: add notes"
    assert shown[1] == "▶ shell  echo hello > notes.txt && echo wrote notes  → exit 0"
    assert shown[2] == "▶ shell  ls missing-file || true  → exit 0"
    assert shown[3] == "▶ shell  gt done --summary 'scripted: 2 step(s)'  → exit 0"
    assert shown[-1].startswith("■ turn ended: exited (exit 0)")
    events = [json.loads(line) for line in run_gt("agent", "logs", "toast", "--json", check=True).stdout.splitlines()]
    assert events[1] == {"kind": "tool_call", "tool": "shell", "args": "echo hello > notes.txt && echo wrote notes",
                         "id": events[1]["id"]}
    assert events[2]["kind"] == "tool_result" and events[2]["exit"] == 0 and events[2]["head"] == ["wrote notes"]
    assert events[-1]["kind"] == "end" and events[-1]["reason"] == "exited"
    assert "[scripted agent] exit 0" in run_gt("agent", "logs", "toast", "--raw", check=True).stdout
    assert run_gt("agent", "logs", "toast", "--turn", "1", check=True).stdout.splitlines() == shown
    missing = run_gt("agent", "logs", "toast", "--turn=9")
    assert missing.returncode != 0 and missing.stderr == "gt: agent toast has no turn 9\n"
    log = run_gt("bead", "log", slung["id"], check=True).stdout.splitlines()
    assert log[0].startswith(f"── toast turn 0001 (scripted) · on {slung['id']} add notes · ")
    assert log[0].endswith(" · exited (exit 0) ──")
    assert "▶ shell  echo hello > notes.txt && echo wrote notes  → exit 0" in log
    turns = gtj("bead", "log", slung["id"])
    assert [t["agent"] for t in turns][:1] == ["toast"] and turns[0]["reason"] == "exited"


def test_logs_of_an_agent_without_turns_and_a_bad_turn_fail_cleanly(town: Path) -> None:
    res = run_gt("agent", "logs", "nobody")
    assert res.returncode != 0 and res.stderr.startswith("gt: ") and len(res.stderr.splitlines()) == 1


def test_a_running_agent_that_says_nothing_gets_its_status_from_its_output(town: Path) -> None:
    slung = gtj("sling", "waits", "--rig", "app", "--script", "sleep 60")[0]
    shown = wait_for(lambda: (a := gtj("agent", "show", "toast")[0])["status_message"] and a, 60, "a status")
    assert shown["status_message"] == "scripted agent toast: 1 step(s) for: waits"
    assert shown["hook_bead_id"] == slung["id"] and shown["status"] == "working"
    events = [e for e in gtj("bead", "events", shown["bead_id"]) if e["event_type"] == "agent_status_message"]
    assert events[-1]["metadata"]["source"] == "output"
    run_gt("agent", "stop", "toast", check=True)
