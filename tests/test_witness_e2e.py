"""The witness through a real daemon: crash loops end quarantined with one escalation,
agents mail each other, nudges give idle agents a turn, and the GUPP ladder climbs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_gt
from tests.helpers import QUICK_IDLE_S, bead, gtj, wait_for, wait_ticks

pytestmark = pytest.mark.slow
PY = "python3 -c"


@pytest.fixture
def town(town: Path) -> Path:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    run_gt("config", "set", "loop.idle_seconds", QUICK_IDLE_S, check=True)  # wait_ticks: idle ticks come quickly
    return town


def test_crash_loop_ends_quarantined_with_one_escalation(town: Path) -> None:
    run_gt("config", "set", "patrol.crash_loop_restarts", "3", check=True)
    run_gt("config", "set", "dispatch.max_attempts", "50", check=True)
    run_gt("config", "set", "rig.max_polecats", "1", check=True)
    b = gtj("sling", "crashes every time", "--rig", "app", "--script", "exit 7")[0]
    wait_for(lambda: gtj("agent", "list") and gtj("agent", "list")[0]["status"] == "quarantined", 60, "quarantine")
    wait_ticks(3)  # nothing more happens: no fresh polecat (the next tick would dispatch one), no more escalations
    agents = gtj("agent", "list")
    assert [(a["name"], a["status"]) for a in agents] == [("toast", "quarantined")]
    escalations = gtj("escalation", "list")
    assert len(escalations) == 1 and escalations[0]["category"] == "crash_loop"
    assert escalations[0]["severity"] == "high"
    shown = bead(b["id"])
    assert shown["status"] == "open" and shown["failure_reason"]["code"] == "agent_crashed"
    crashes = [e for e in gtj("bead", "events", b["id"]) if e["event_type"] == "unhooked"]
    assert len(crashes) == 3
    # the mayor and the human were told, once each
    assert len(gtj("mail", "inbox", "--box", "mayor")) == 1 and len(gtj("mail", "inbox")) == 1
    run_gt("escalation", "ack", escalations[0]["id"], check=True)
    assert gtj("escalation", "list") == []
    run_gt("agent", "reset", "toast", check=True)
    assert gtj("agent", "show", "toast")[0]["status"] in ("idle", "starting", "working")


def test_mail_round_trip_between_two_agents(town: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "2", check=True)
    wait_mail = ("for i in $(seq 150); do gt mail inbox --unread --json > in.json; [ -s in.json ] && break; "
                 "sleep 0.2; done; test -s in.json")
    first_id = f"{PY} 'import json; print(json.loads(open(\"in.json\").readline())[\"id\"])'"
    sender = f"{PY} 'import json; print(json.loads(open(\"in.json\").readline())[\"metadata\"][\"from\"])'"
    listener = gtj("sling", "listener", "--rig", "app", "--script", wait_mail,
                   "--script", f"gt mail read $({first_id}) > got-$GT_AGENT.txt",
                   "--script", f"gt mail send $({sender}) pong -m 'got your ping'",
                   "--script", "rm in.json")[0]
    wait_for(lambda: bead(listener["id"])["assignee"], 30, "listener dispatched")
    name = bead(listener["id"])["assignee"]
    talker = gtj("sling", "talker", "--rig", "app", "--script", f"gt mail send {name} ping -m 'hello there'",
                 "--script", wait_mail, "--script", f"gt mail read $({first_id}) > got-$GT_AGENT.txt",
                 "--script", "rm in.json")[0]
    for b in (listener, talker):
        wait_for(lambda: bead(b["id"])["status"] in ("in_review", "closed"), 60, f"{b['title']} done")
    messages = gtj("bead", "list", "--type", "message")
    assert sorted((m["title"], m["status"]) for m in messages) == [("ping", "closed"), ("pong", "closed")]
    ping = next(m for m in messages if m["title"] == "ping")
    assert ping["assignee"] == name and ping["metadata"]["delivered_at"]
    events = gtj("bead", "events", ping["id"])
    assert [e["event_type"] for e in events][:3] == ["created", "mail_sent", "mail_delivered"]


def test_mail_and_nudges_arrive_at_the_next_turn(town: Path) -> None:
    first = gtj("sling", "first", "--rig", "app", "--script", "echo 1 > one.txt")[0]
    wait_for(lambda: bead(first["id"])["status"] == "closed", 60, "first merged")
    wait_for(lambda: gtj("agent", "show", "toast")[0]["turn_ended_at"], 30, "turn over")
    run_gt("mail", "send", "toast", "heads up", "-m", "the API changed", check=True)
    nudge = gtj("nudge", "toast", "check the new API", "--mode", "wait-idle")[0]
    assert nudge["status"] == "queued"
    # an idle agent with a nudge gets a turn; its prompt carries the nudge and the mail
    wait_for(lambda: gtj("agent", "show", "toast")[0]["turns"] == 2, 30, "nudge turn")
    turn = Path(gtj("agent", "show", "toast")[0]["turn_dir"])
    prompt = (turn / "prompt.md").read_text()
    assert "NUDGE from" in prompt and "check the new API" in prompt
    assert "MAIL" in prompt and "heads up" in prompt and "the API changed" in prompt
    mail = gtj("mail", "inbox", "--box", "toast")[0]
    assert mail["metadata"]["delivered_at"] and mail["status"] == "open"  # delivered, not yet read
    wait_for(lambda: gtj("agent", "show", "toast")[0]["turn_ended_at"], 30, "nudge turn over")
    wait_ticks(3)  # the next tick records the exit; a second nudge turn would start from the one after
    assert gtj("agent", "show", "toast")[0]["turns"] == 2  # delivered once: no second nudge turn


def test_gupp_nudges_escalates_then_resets(town: Path) -> None:
    run_gt("config", "set", "patrol.gupp_minutes", "0.03", check=True)  # 1.8 s
    run_gt("config", "set", "rig.max_polecats", "1", check=True)
    b = gtj("sling", "stuck", "--rig", "app", "--script", "sleep 60")[0]
    wait_for(lambda: any(e["event_type"] == "unhooked" and
                         (e["metadata"].get("failure_reason") or {}).get("code") == "gupp_reset"
                         for e in gtj("bead", "events", b["id"])), 60, "gupp reset")
    run_gt("agent", "stop", "toast", check=True)
    kinds = [e["event_type"] for e in gtj("bead", "events", gtj("agent", "show", "toast")[0]["bead_id"])]
    assert "nudged" in kinds
    gupp = [e for e in gtj("escalation", "list") if e["category"] == "gupp"]
    assert len(gupp) == 1 and b["id"] in gupp[0]["title"]


def test_high_escalations_reach_the_human_through_notify_command(town: Path, gt_home: Path) -> None:
    sink = gt_home / "notified.txt"
    run_gt("config", "set", "notify.command", f'echo "$GT_SEVERITY $GT_ESCALATION_ID $GT_MESSAGE" >> {sink}',
           check=True)
    low = gtj("escalate", "--severity", "low", "disk is getting full")[0]
    high = gtj("escalate", "--severity", "high", "the build server is down")[0]
    wait_for(lambda: sink.exists() and high["id"] in sink.read_text(), 30, "the notify command")
    wait_ticks(3)  # every tick's housekeeping notifies what is pending: a repeat would show by now
    lines = sink.read_text().splitlines()
    assert lines == [f"high {high['id']} the build server is down"]  # once, and not for low
    assert low["id"] not in sink.read_text()
    assert len(gtj("mail", "inbox", "--box", "mayor")) == 2 and len(gtj("mail", "inbox")) == 1


def test_triage_judges_a_stuck_agent_and_is_capped(town: Path) -> None:
    for key, value in (("patrol.gupp_minutes", "0.03"), ("rig.max_polecats", "1"), ("patrol.triage_agent", "true"),
                       ("patrol.triage_per_hour", "1")):
        run_gt("config", "set", key, value, check=True)
    b = gtj("sling", "stuck", "--rig", "app", "--script", "sleep 60")[0]
    def events() -> list[dict[str, Any]]:
        return gtj("bead", "events", b["id"])
    resolved = wait_for(lambda: [e for e in events() if e["event_type"] == "triage_resolved"], 60, "a verdict")
    assert resolved[0]["new_value"] == "wait" and resolved[0]["actor"] == "triage"
    # the cap (1 an hour) is used: the next stuck round escalates instead of asking triage again
    gupp = wait_for(lambda: [e for e in gtj("escalation", "list") if e["category"] == "gupp"], 60, "an escalation")
    run_gt("agent", "stop", "toast", check=True)
    assert len(gupp) == 1
    assert len([e for e in events() if e["event_type"] == "triage_requested"]) == 1
    triage = gtj("agent", "show", "triage")[0]
    assert triage["role"] == "triage" and triage["turns"] == 1
