"""Costs, budgets and attribution end to end through `gt` and a real daemon, with scripted
agents that report model usage the way a CLI does (`[usage] input=N output=M`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow

USAGE = "echo '[usage] input=1000 output=100'"  # $1.20 a turn at the prices below
PRICES = '{"fake-model" = {input = 1000.0, output = 2000.0, cached = 100.0}}'
HUMAN = "Test Human <human@example.com>"  # the git identity the test fixture configures


def plan(path: Path) -> Path:
    path.write_text(json.dumps({"title": "three steps", "beads": [
        {"id": "one", "title": "step one", "rig": "app", "script": [USAGE, "echo 1 > one.txt"]},
        {"id": "two", "title": "step two", "rig": "app", "depends_on": ["one"],
         "script": [USAGE, "echo 2 > two.txt"]},
        {"id": "three", "title": "step three", "rig": "app", "depends_on": ["two"],
         "script": [USAGE, "echo 3 > three.txt"]},
    ]}))
    return path


def test_budget_holds_the_rest_of_a_convoy_and_raising_it_resumes(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "agent.model", "fake-model", check=True)
    run_gt("config", "set", "costs.prices", PRICES, check=True)
    run_gt("budget", "set", "--rig", "app", "--dollars", "2", check=True)
    run_gt("budget", "set", "--tokens", "4000", check=True)  # the town: three turns of 1,100 make 82 %
    notes = gt_home / "notes.txt"
    run_gt("config", "set", "notify.command", f"echo \"$GT_MESSAGE\" >> {notes}", check=True)
    convoy = gtj("sling", "--batch", str(plan(gt_home / "plan.json")))[0]
    ids = {m["title"]: m["id"] for m in convoy["members"]}

    # two turns spend $2.40 of $2: the third step waits, held by the rig's budget
    wait_for(lambda: bead(ids["step two"])["status"] == "closed", 90, "step two merged")
    held = wait_for(lambda: [e for e in gtj("bead", "events", ids["step three"]) if e["event_type"] == "held"],
                    30, "step three held")
    assert json.loads(json.dumps(held[0]))["new_value"] == "budget_exhausted"
    budgets = gtj("budget", "show")
    assert budgets[0]["status"] == "exhausted" and budgets[0]["used_dollars"] == pytest.approx(2.4)
    assert budgets[0]["held_beads"] == [ids["step three"]]
    assert bead(ids["step three"])["status"] == "open" and bead(ids["step three"])["assignee"] is None
    escalations = gtj("escalation", "list")
    assert any("budget rig:app is exhausted" in e["title"] for e in escalations)

    run_gt("budget", "set", "--rig", "app", "--dollars", "10", check=True)  # raising the cap releases it
    wait_for(lambda: bead(ids["step three"])["status"] == "closed", 90, "step three merged")

    wait_for(lambda: notes.exists() and "budget town is at 82%" in notes.read_text(), 30, "the 80 % notice")
    assert "budget rig:app is exhausted" in notes.read_text()  # the high escalation reached the human too
    by_rig = gtj("costs", "--by", "rig")
    assert by_rig[0]["key"] == "app" and by_rig[0]["dollars"] == pytest.approx(3.6) and by_rig[0]["turns"] == 3
    by_human = gtj("costs", "--by", "human")
    assert [(r["key"], r["dollars"]) for r in by_human] == [(HUMAN, pytest.approx(3.6))]
    stats = gtj("stats", "--since", "1h")[0]
    assert stats["merged"] == 3 and stats["first_try_pass_rate"] == 1.0
    assert stats["dollars"] == pytest.approx(3.6)

    # every commit names the human who asked (Author) and the agent with its model
    log = subprocess.run(["git", "-C", str(town), "log", "--format=%an <%ae>%n%B", "-n", "6"],
                         capture_output=True, text=True, check=True).stdout
    assert f"{HUMAN}\nstep three" in log
    assert "Co-authored-by: toast (scripted fake-model) <toast@t.gastown>" in log


def test_every_path_records_the_same_human(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # nothing dispatches: only records
    slung = gtj("sling", "sling path", "--rig", "app")[0]
    created = gtj("bead", "create", "create path", "--rig", "app")[0]
    batch = gtj("sling", "--batch", str(plan(gt_home / "p.json")), "--staged")[0]
    assert slung["requested_by"] == created["requested_by"] == HUMAN
    assert {bead(m["id"])["requested_by"] for m in batch["members"]} == {HUMAN}
    assert bead(batch["id"])["requested_by"] == HUMAN
