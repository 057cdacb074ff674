"""Unit tests of mail, nudges, escalations and the patrol verbs on a real SQLite file, fixed clock."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.store import Store
from gastown.protocol import ErrorCode
from tests.helpers import Clock, code_of


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=Clock())
    s.rig_add("app", "/src", "main", "/x")
    return s


def snapshot(s: Store) -> tuple[Any, ...]:
    def q(sql: str) -> list[Any]:
        return list(s.conn.execute(sql))

    return (q("SELECT * FROM beads ORDER BY id"), q("SELECT * FROM agents ORDER BY name"),
            q("SELECT seq FROM bead_events ORDER BY seq"), q("SELECT * FROM agent_nudges"),
            q("SELECT * FROM escalations"), q("SELECT * FROM patrol_state"))


def polecat(s: Store, name: str, rig: str = "app") -> str:
    return str(s.agent_create(role="polecat", rig=rig, adapter="scripted", name=name)["name"])


def working(s: Store, name: str = "toast") -> str:
    b = s.bead_create("fix login", rig="app")
    s.dispatch_begin(b["id"], None, rig="app", adapter="scripted")
    s.turn_started(name, turn_dir="/t", token_hash="h1", worktree="/w", branch="gt/" + name)
    return str(b["id"])


def boxes(s: Store) -> list[str]:
    """Recipient of every message bead, in creation order."""
    return [r[0] for r in s.conn.execute("SELECT assignee FROM beads WHERE type = 'message' ORDER BY created_at")]


def events(s: Store, bead_id: str, event_type: str) -> list[dict[str, Any]]:
    return [e for e in s.bead_events(bead_id) if e["event_type"] == event_type]


# ----------------------------------------------------------------------- mail
def test_mail_to_an_agent_name(store: Store) -> None:
    polecat(store, "toast")
    polecat(store, "maple")
    (msg,) = store.mail_send("toast", "hi", "body", sender="mayor")
    assert msg["type"] == "message" and msg["status"] == "open" and msg["assignee"] == "toast"
    assert msg["metadata"]["from"] == "mayor" and msg["metadata"]["to"] == "toast" and msg["body"] == "body"
    assert [e["new_value"] for e in events(store, msg["id"], "mail_sent")] == ["toast"]
    assert boxes(store) == ["toast"]


def test_mail_to_a_role_and_to_rig_role(store: Store) -> None:
    store.rig_add("web", "/src2", "main", "/y")
    for name, rig in (("toast", "app"), ("maple", "app"), ("birch", "web")):
        polecat(store, name, rig)
    store.review_agent("app", "scripted")
    assert [m["assignee"] for m in store.mail_send("polecat", "all", "", sender="mayor")] == ["birch", "maple", "toast"]
    assert [m["assignee"] for m in store.mail_send("app/polecat", "app", "", sender="mayor")] == ["maple", "toast"]
    assert [m["assignee"] for m in store.mail_send("web/polecat", "web", "", sender="mayor")] == ["birch"]
    assert [m["assignee"] for m in store.mail_send("refinery", "r", "", sender="mayor")] == ["refinery-app"]
    assert [m["metadata"]["addressed_to"] for m in store.mail_inbox("maple")] == ["polecat", "app/polecat"]
    assert store.resolve_recipients(" app/polecat ") == ["maple", "toast"]


@pytest.mark.parametrize("box", ["mayor", "human"])
def test_mail_to_mayor_and_human(store: Store, box: str) -> None:
    (msg,) = store.mail_send(box, "", "b", sender="toast", thread="gt-x")
    assert msg["assignee"] == box and msg["title"] == "(no subject)" and msg["metadata"]["thread"] == "gt-x"
    assert [m["id"] for m in store.mail_inbox(box)] == [msg["id"]]


@pytest.mark.parametrize("to", ["nobody", "web/polecat", "app/nobody", "app/mayor"])
def test_mail_to_an_unknown_box_writes_nothing(store: Store, to: str) -> None:
    polecat(store, "toast")
    before = snapshot(store)
    assert code_of(store.mail_send, to, "s", "b", sender="mayor") == ErrorCode.NOT_FOUND
    assert snapshot(store) == before


def test_inbox_and_unread(store: Store) -> None:
    polecat(store, "toast")
    a = store.mail_send("toast", "a", "", sender="mayor")[0]["id"]
    b = store.mail_send("toast", "b", "", sender="mayor")[0]["id"]
    store.mail_send("mayor", "not for toast", "", sender="toast")
    assert [m["id"] for m in store.mail_inbox("toast")] == [a, b]
    store.mail_read(a, reader="toast")
    assert [m["id"] for m in store.mail_inbox("toast", unread=True)] == [b]
    assert [m["id"] for m in store.mail_inbox("toast")] == [a, b]
    assert store.mail_inbox("maple") == []


def test_mail_read_closes_and_marks_delivered_once(store: Store) -> None:
    polecat(store, "toast")
    msg = store.mail_send("toast", "a", "", sender="mayor")[0]["id"]
    read = store.mail_read(msg, reader="toast")
    assert read["status"] == "closed" and read["metadata"]["delivered_at"]
    delivered_at = read["metadata"]["delivered_at"]
    again = store.mail_read(msg, reader="toast")
    assert again["status"] == "closed" and again["metadata"]["delivered_at"] == delivered_at
    assert len(events(store, msg, "mail_delivered")) == 1 and len(events(store, msg, "closed")) == 1
    # delivered at a turn first, read later: still one delivery
    other = store.mail_send("toast", "b", "", sender="mayor")[0]["id"]
    store.mark_delivered("toast", [other], [])
    store.mail_read(other, reader="toast")
    assert len(events(store, other, "mail_delivered")) == 1
    assert store.bead_row(other)["status"] == "closed"


def test_mail_read_refuses_a_non_message(store: Store) -> None:
    b = store.bead_create("task", rig="app")
    before = snapshot(store)
    assert code_of(store.mail_read, b["id"], reader="toast") == ErrorCode.INVALID_PARAMS
    assert snapshot(store) == before


# --------------------------------------------------------------------- nudges
def test_deliverables_and_mark_delivered(store: Store) -> None:
    polecat(store, "toast")
    polecat(store, "maple")
    m1 = store.mail_send("toast", "a", "", sender="mayor")[0]["id"]
    m2 = store.mail_send("toast", "b", "", sender="mayor")[0]["id"]
    store.mail_send("maple", "c", "", sender="mayor")
    n1 = store.nudge("toast", "go on", mode="immediate", source="mayor")
    n2 = store.nudge("toast", "later", mode="queue")
    store.nudge("maple", "x")
    assert n1["status"] == "queued" and n1["mode"] == "immediate" and n1["agent"] == "toast"
    mail, nudges = store.deliverables("toast")
    assert [m["id"] for m in mail] == [m1, m2]
    assert [(n["nudge_id"], n["mode"], n["message"]) for n in nudges] == [
        (n1["id"], "immediate", "go on"), (n2["id"], "queue", "later")]
    store.mark_delivered("toast", [m1], [n1["id"]])
    mail, nudges = store.deliverables("toast")
    assert [m["id"] for m in mail] == [m2] and [n["nudge_id"] for n in nudges] == [n2["id"]]
    assert store.bead_row(m1)["status"] == "open"  # delivered is not read
    store.mark_delivered("toast", [m2], [n2["id"]])
    assert store.deliverables("toast") == ([], [])
    assert len(store.deliverables("maple")[0]) == 1 and len(store.deliverables("maple")[1]) == 1


def test_nudge_modes_are_validated(store: Store) -> None:
    polecat(store, "toast")
    before = snapshot(store)
    assert code_of(store.nudge, "toast", "x", mode="now") == ErrorCode.INVALID_PARAMS
    assert code_of(store.nudge, "nobody", "x") == ErrorCode.NOT_FOUND
    assert snapshot(store) == before
    for mode in ("immediate", "wait-idle", "queue"):
        assert store.nudge("toast", "x", mode=mode)["mode"] == mode
    assert store.nudge("toast", "x")["mode"] == "wait-idle"
    agent_bead = store.agent_row("toast")["bead_id"]
    assert [e["new_value"] for e in events(store, agent_bead, "nudged")] == [
        "immediate", "wait-idle", "queue", "wait-idle"]


def test_nudges_expire_after_their_ttl(store: Store) -> None:
    polecat(store, "toast")
    short = store.nudge("toast", "short", ttl_minutes=1)
    long = store.nudge("toast", "long", ttl_minutes=60)
    assert store.expire_nudges() == 0
    store.clock.advance(minutes=2)  # type: ignore[attr-defined]
    assert [n["nudge_id"] for n in store.pending_nudges("toast")] == [long["id"]]
    assert store.expire_nudges() == 1
    assert store.expire_nudges() == 0
    row = store.nudge_get(short["id"])
    assert row is not None and row["expired_at"] and row["delivered_at"] is None
    assert [n["nudge_id"] for n in store.deliverables("toast")[1]] == [long["id"]]
    store.clock.advance(hours=2)  # type: ignore[attr-defined]
    assert store.pending_nudges() == [] and store.expire_nudges() == 1


# ---------------------------------------------------------------- escalations
@pytest.mark.parametrize("severity,routed", [
    ("low", ["mayor"]), ("medium", ["mayor"]), ("high", ["mayor", "human"]), ("critical", ["mayor", "human"]),
])
def test_escalation_routing(store: Store, severity: str, routed: list[str]) -> None:
    esc = store.escalation_create("help", severity=severity, source="toast", category="x")
    assert esc["type"] == "escalation" and esc["severity"] == severity and esc["status"] == "open"
    assert esc["last_routed_at"] and esc["reescalation_count"] == 0 and esc["acknowledged"] == 0
    assert boxes(store) == routed
    assert all(m["metadata"]["thread"] == esc["id"] for m in store.mail_inbox("mayor"))
    assert [e["new_value"] for e in events(store, esc["id"], "escalated")] == [severity]


def test_escalation_with_an_invalid_severity_is_refused(store: Store) -> None:
    before = snapshot(store)
    assert code_of(store.escalation_create, "help", severity="urgent", source="toast") == ErrorCode.INVALID_PARAMS
    assert snapshot(store) == before


def test_escalation_ack_closes_and_is_idempotent(store: Store) -> None:
    esc = store.escalation_create("help", severity="low", source="toast")
    other = store.escalation_create("other", severity="low", source="toast")
    acked = store.escalation_ack(esc["id"], actor="alice")
    assert acked["acknowledged"] == 1 and acked["acknowledged_by"] == "alice" and acked["status"] == "closed"
    before = snapshot(store)
    again = store.escalation_ack(esc["id"], actor="bob")
    assert again["acknowledged_by"] == "alice" and again["acknowledged_at"] == acked["acknowledged_at"]
    assert snapshot(store) == before
    assert [e["id"] for e in store.escalation_list()] == [other["id"]]
    assert [e["id"] for e in store.escalation_list(all_=True)] == [esc["id"], other["id"]]
    b = store.bead_create("task", rig="app")
    assert code_of(store.escalation_get, b["id"]) == ErrorCode.NOT_FOUND


def test_reescalate_goes_up_one_level_and_routes_again(store: Store) -> None:
    esc = store.escalation_create("help", severity="medium", source="toast")
    assert boxes(store) == ["mayor"]
    store.clock.advance(hours=4)  # type: ignore[attr-defined]
    up = store.reescalate(esc["id"])
    assert up["severity"] == "high" and up["reescalation_count"] == 1
    assert up["last_routed_at"] > esc["last_routed_at"]
    assert boxes(store) == ["mayor", "mayor", "human"]
    assert "raised to high" in store.mail_inbox("human")[0]["body"]
    assert [(e["old_value"], e["new_value"]) for e in events(store, esc["id"], "reescalated")] == [("medium", "high")]
    assert store.reescalate(esc["id"])["severity"] == "critical"
    top = store.reescalate(esc["id"])
    assert top["severity"] == "critical" and top["reescalation_count"] == 3
    assert boxes(store)[-2:] == ["mayor", "human"] and len(boxes(store)) == 7


def test_escalations_to_notify_returns_each_high_event_once(store: Store) -> None:
    low = store.escalation_create("low", severity="low", source="x")
    high = store.escalation_create("high", severity="high", source="x")
    crit = store.escalation_create("crit", severity="critical", source="x")
    assert [e["id"] for e in store.escalations_to_notify()] == [high["id"], crit["id"]]
    assert store.escalations_to_notify() == []
    store.reescalate(low["id"])  # low -> medium: not for the human
    assert store.escalations_to_notify() == []
    store.reescalate(low["id"])  # medium -> high: now it is
    (note,) = store.escalations_to_notify()
    assert note["id"] == low["id"] and note["severity"] == "high"
    assert store.escalations_to_notify() == []
    assert isinstance(store.patrol_get("notify_seq"), int)


def test_patrol_state_roundtrip(store: Store) -> None:
    assert store.patrol_get("gupp:toast") is None
    store.patrol_set("gupp:toast", {"level": 1, "since": "t"})
    store.patrol_set("gupp:toast", {"level": 2, "since": "t"})
    assert store.patrol_get("gupp:toast") == {"level": 2, "since": "t"}


# -------------------------------------------------------------- patrol verbs
def escalation_count(s: Store) -> int:
    return int(s.conn.execute("SELECT count(*) FROM escalations").get)


def test_agent_quarantine_of_an_idle_agent_with_a_hooked_bead(store: Store) -> None:
    b = store.bead_create("fix", rig="app")
    store.dispatch_begin(b["id"], None, rig="app", adapter="scripted")  # toast: hooked, bead in_progress
    store.conn.execute("UPDATE agents SET status = 'idle' WHERE name = 'toast'")
    agent = store.agent_quarantine("toast", 5)
    assert agent["status"] == "quarantined" and agent["hook_bead_id"] is None
    bead = store.bead_row(b["id"])
    assert bead["status"] == "open" and bead["assignee"] is None and bead["failure_reason"]["code"] == "quarantined"
    assert escalation_count(store) == 1
    (esc,) = store.escalation_list()
    assert esc["severity"] == "high" and esc["category"] == "crash_loop" and "toast" in esc["body"]
    before = snapshot(store)
    assert store.agent_quarantine("toast", 6)["status"] == "quarantined"
    assert snapshot(store) == before and escalation_count(store) == 1


def test_agent_quarantine_of_a_working_agent(store: Store) -> None:
    bead_id = working(store)
    agent = store.agent_quarantine("toast", 5)
    assert agent["status"] == "quarantined" and agent["hook_bead_id"] is None
    assert store.bead_row(bead_id)["status"] == "open"
    assert store.bead_row(bead_id)["failure_reason"]["code"] == "quarantined"
    assert escalation_count(store) == 1


def test_agent_quarantine_leaves_a_stopped_agent_alone(store: Store) -> None:
    polecat(store, "toast")
    store.agent_stop("toast", actor="alice")
    before = snapshot(store)
    assert store.agent_quarantine("toast", 5)["status"] == "stopped"
    assert snapshot(store) == before


def test_zombie_clear_unhooks_an_agent_hooked_to_a_closed_bead(store: Store) -> None:
    bead_id = working(store)
    store.bead_close(bead_id, actor="alice")
    agent = store.zombie_clear("toast", "hooked to a closed bead")
    assert agent["status"] == "idle" and agent["hook_bead_id"] is None
    assert events(store, bead_id, "unhooked")[-1]["actor"] == "patrol"
    assert store.bead_row(bead_id)["status"] == "closed"


def test_zombie_clear_leaves_an_agent_on_an_open_bead_alone(store: Store) -> None:
    bead_id = working(store)
    before = snapshot(store)
    agent = store.zombie_clear("toast", "stale")
    assert agent["status"] == "working" and agent["hook_bead_id"] == bead_id
    assert snapshot(store) == before


def test_zombie_clear_idles_a_working_agent_without_a_hook(store: Store) -> None:
    polecat(store, "toast")
    store.nudge_turn_begin("toast")  # starting with nothing on its hook
    assert store.zombie_clear("toast", "no hook")["status"] == "idle"


def test_report_stranded_writes_an_event_and_state_per_bead(store: Store) -> None:
    a = store.bead_create("a", rig="app")["id"]
    b = store.bead_create("b", rig="app")["id"]
    store.report_stranded([a, b])
    for bead_id in (a, b):
        assert len(events(store, bead_id, "stranded")) == 1
        when = store.patrol_get(f"stranded:{bead_id}")
        assert isinstance(when, str) and when.startswith("2026-01-01T")
    store.report_stranded([a])
    assert len(events(store, a, "stranded")) == 2 and len(events(store, b, "stranded")) == 1
    assert store.patrol_get(f"stranded:{a}") > store.patrol_get(f"stranded:{b}")


def test_nudge_turn_begin(store: Store) -> None:
    polecat(store, "maple")
    assert store.nudge_turn_begin("maple")["status"] == "starting"
    working(store, "toast")  # dispatch_begin picks toast: busy and hooked
    before = snapshot(store)
    assert code_of(store.nudge_turn_begin, "toast") == ErrorCode.CONFLICT
    assert code_of(store.nudge_turn_begin, "maple") == ErrorCode.CONFLICT  # already starting
    assert code_of(store.nudge_turn_begin, "nobody") == ErrorCode.NOT_FOUND
    assert snapshot(store) == before
