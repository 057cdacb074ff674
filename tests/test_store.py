"""Unit tests of the town store on a real SQLite file, with a fixed clock."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import apsw
import pytest

from gastown.daemon.store import ids, schema
from gastown.daemon.store import Store
from gastown.protocol import ErrorCode, RpcError
from tests.helpers import Clock, code_of


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=Clock())
    s.rig_add("app", "/src/app", "main", "/x/app.git")
    return s


def test_ids_grow_with_the_town() -> None:
    assert ids.id_length(0) == 3 and ids.id_length(160) == 3
    assert ids.id_length(1000) == 5 and ids.id_length(6000) == 6
    assert ids.id_length(10**9) == 8
    taken = {ids.candidate("gt", "seed", 0, 3)}
    fresh = ids.new_id("gt", "seed", 1, taken.__contains__)
    assert fresh not in taken and fresh.startswith("gt-") and len(fresh) == 6


def test_ids_unique_over_many_beads(store: Store) -> None:
    with store.conn:
        made = [store.bead_create(f"bead {i}")["id"] for i in range(400)]
    assert len(set(made)) == 400
    assert all(len(m.split("-")[1]) in (3, 4, 5) for m in made)
    assert len(made[-1].split("-")[1]) >= 4  # grew past 3 characters


def test_create_show_and_events(store: Store) -> None:
    b = store.bead_create("fix login", rig="app", body="details", priority=1, labels=["ui", "bug"],
                          metadata={"k": 1}, created_by="alice", requested_by="alice")
    got = store.bead_get(b["id"])
    assert (got["title"], got["rig"], got["priority"], got["labels"]) == ("fix login", "app", 1, ["bug", "ui"])
    assert got["metadata"] == {"k": 1} and got["status"] == "open"
    assert [e["event_type"] for e in store.bead_events(b["id"])] == ["created"]


@pytest.mark.parametrize("kw, code", [
    ({"title": ""}, ErrorCode.INVALID_PARAMS),
    ({"title": "x" * 501}, ErrorCode.INVALID_PARAMS),
    ({"title": "x", "priority": 5}, ErrorCode.INVALID_PARAMS),
    ({"title": "x", "rig": "nope"}, ErrorCode.NOT_FOUND),
    ({"title": "x", "depends_on": ["gt-zzz"]}, ErrorCode.NOT_FOUND),
])
def test_create_rejects_bad_input_and_writes_nothing(store: Store, kw: dict[str, Any], code: int) -> None:
    title = kw.pop("title")
    assert code_of(store.bead_create, title, **kw) == code
    assert store.bead_list() == []


def test_resolve_partial_ids(store: Store) -> None:
    b = store.bead_create("one")
    short = b["id"].split("-")[1]
    assert store.resolve(short) == b["id"]
    assert store.resolve(b["id"].upper()) == b["id"]
    assert code_of(store.resolve, "gt-nothere") == ErrorCode.NOT_FOUND


def test_terminal_statuses_never_reopen_silently(store: Store) -> None:
    b = store.bead_create("x")
    store.transition(b["id"], "in_progress", actor="a")
    store.bead_close(b["id"], reason="done")
    assert code_of(store.transition, b["id"], "open") == ErrorCode.CONFLICT
    assert code_of(store.transition, b["id"], "in_progress") == ErrorCode.CONFLICT
    assert code_of(store.bead_reopen, b["id"], reason="  ") == ErrorCode.INVALID_PARAMS
    again = store.bead_reopen(b["id"], reason="regressed")
    assert again["status"] == "open" and again["closed_at"] is None
    kinds = [(e["event_type"], e["old_value"], e["new_value"]) for e in store.bead_events(b["id"])]
    assert kinds == [("created", None, "open"), ("status_changed", "open", "in_progress"),
                     ("closed", "in_progress", "closed"), ("reopened", "closed", "open")]


def test_same_status_write_emits_no_event(store: Store) -> None:
    b = store.bead_create("x")
    before = store.last_seq
    store.transition(b["id"], "open")
    assert store.last_seq == before


def test_failure_reason_is_structured(store: Store) -> None:
    b = store.bead_create("x")
    failed = store.bead_fail(b["id"], {"code": "gate_failed", "message": "pytest red", "source": "refinery"})
    assert failed["status"] == "failed" and failed["failure_reason"]["code"] == "gate_failed"
    assert failed["close_reason"] == "pytest red"
    assert code_of(store.bead_reopen, store.bead_create("y")["id"], reason="r") == ErrorCode.INVALID_STATE


def test_cycles_are_refused_with_the_chain(store: Store) -> None:
    a, b, c = (store.bead_create(t)["id"] for t in "abc")
    store.dep_add(b, a)
    store.dep_add(c, b)
    with pytest.raises(RpcError) as exc:
        store.dep_add(a, c)
    assert exc.value.code == ErrorCode.CONFLICT and f"{a} -> {c} -> {b} -> {a}" in exc.value.message
    assert code_of(store.dep_add, a, a) == ErrorCode.CONFLICT
    assert code_of(store.dep_add, b, a) == ErrorCode.ALREADY_EXISTS
    assert [d["id"] for d in store.bead_get(a)["depends_on"]] == []  # nothing written


def test_parent_child_cycle_is_refused(store: Store) -> None:
    epic = store.bead_create("epic")["id"]
    child = store.bead_create("child", parent=epic)["id"]
    assert code_of(store.dep_add, epic, child, type="parent-child") == ErrorCode.CONFLICT


def test_ready_rules(store: Store) -> None:
    a = store.bead_create("a", rig="app", priority=3)["id"]
    b = store.bead_create("b", rig="app", depends_on=[a])["id"]
    c = store.bead_create("c", rig="app", priority=0)["id"]
    held = store.bead_create("held", labels=["gt:held"])["id"]
    ready = [r["id"] for r in store.ready()]
    assert ready == [c, a]  # priority order; b waits for a; held is held
    store.bead_close(a)
    assert [r["id"] for r in store.ready()] == [c, b]
    assert held not in [r["id"] for r in store.ready()]


def test_failed_blocker_keeps_dependents_blocked_and_explains(store: Store) -> None:
    a = store.bead_create("a")["id"]
    b = store.bead_create("b", depends_on=[a])["id"]
    store.bead_fail(a, {"code": "x", "message": "tests red"})
    assert b not in [r["id"] for r in store.ready()]
    explained = {r["id"]: r["blocked_by"] for r in store.ready_explain()}
    assert explained[b][0]["status"] == "failed" and "tests red" in explained[b][0]["message"]
    store.bead_reopen(a, reason="retry")
    assert [r["id"] for r in store.ready()] == [a]


def test_epics_and_blocked_ancestors(store: Store) -> None:
    gate = store.bead_create("gate")["id"]
    epic = store.bead_create("epic", depends_on=[gate])["id"]
    child = store.bead_create("child", parent=epic)["id"]
    grandchild = store.bead_create("grandchild", parent=child)["id"]
    assert [r["id"] for r in store.ready()] == [gate]
    why = {r["id"]: [w["kind"] for w in r["blocked_by"]] for r in store.ready_explain()}
    assert why[epic] == ["blocks", "children"] and why[grandchild] == ["parent"]
    store.bead_close(gate)
    assert [r["id"] for r in store.ready()] == [grandchild]


def test_ready_by_rig_and_assignee(store: Store) -> None:
    store.rig_add("web", "/src/web", "main", "/x/web.git")
    a = store.bead_create("a", rig="app")["id"]
    w = store.bead_create("w", rig="web")["id"]
    assert [r["id"] for r in store.ready(rig="web")] == [w]
    store.bead_update(a, assignee="toast")
    assert [r["id"] for r in store.ready(rig="app")] == []


def test_update_fields_and_labels(store: Store) -> None:
    b = store.bead_create("x", labels=["a"])["id"]
    got = store.bead_update(b, title="y", priority=0, add_labels=["b"], remove_labels=["a"], metadata={"k": "v"})
    assert (got["title"], got["priority"], got["labels"], got["metadata"]) == ("y", 0, ["b"], {"k": "v"})
    assert store.bead_events(b)[-1]["metadata"]["fields"] == ["title", "priority", "metadata", "labels"]
    got = store.bead_update(b, metadata={"k": None})
    assert got["metadata"] == {}


def test_rig_remove_refused_with_unfinished_work(store: Store) -> None:
    b = store.bead_create("x", rig="app")["id"]
    assert code_of(store.rig_remove, "app") == ErrorCode.INVALID_STATE
    store.bead_close(b)
    store.rig_remove("app")
    assert code_of(store.rig_get, "app") == ErrorCode.NOT_FOUND


def test_duplicate_rig(store: Store) -> None:
    assert code_of(store.rig_add, "app", "/a", "main", "/b") == ErrorCode.ALREADY_EXISTS


def test_events_since_pages(store: Store) -> None:
    start = store.last_seq
    for i in range(5):
        store.bead_create(f"b{i}")
    evs = store.events_since(start, limit=3)
    assert [e["seq"] for e in evs] == [start + 1, start + 2, start + 3]


def test_schema_version_and_newer_file_refused(tmp_path: Path) -> None:
    path = Path(tempfile.mkdtemp(prefix="gt-")) / "t.db"
    s = Store(path, "gt")
    assert s.conn.execute("PRAGMA user_version").get == schema.LATEST
    assert s.conn.execute("PRAGMA application_id").get == schema.APPLICATION_ID
    s.close()
    Store(path, "gt").close()  # reopening migrates nothing and works
    conn = apsw.Connection(str(path))
    conn.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    conn.close()
    with pytest.raises(RpcError) as exc:
        Store(path, "gt")
    assert exc.value.code == ErrorCode.INVALID_STATE and "newer" in exc.value.message


def test_check_constraints_guard_the_vocabulary(store: Store) -> None:
    store.bead_create("x")
    with pytest.raises(apsw.ConstraintError):
        store.conn.execute("UPDATE beads SET status = 'bogus'")
    with pytest.raises(apsw.ConstraintError):
        store.conn.execute(
            "INSERT INTO beads(id, type, title, created_at, updated_at, status) VALUES ('x', 'issue', 't', 'n', 'n', 'closed')")


def test_frozen_schema_checks_match_the_enums() -> None:
    """Migrations are frozen text; the enums must still fit what the schema allows (a new
    value needs a migration that widens the CHECK, never an edit of V1)."""
    import re

    from gastown.daemon.store import schema
    from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, Role, Severity, values

    lists: dict[str, list[set[str]]] = {}
    for column, body in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", schema.V1):
        lists.setdefault(column, []).append({v.strip().strip("'") for v in body.split(",")})
    for column, enum_cls in (("type", BeadType), ("type", DepType), ("status", BeadStatus),
                             ("status", AgentStatus), ("role", Role), ("severity", Severity)):
        assert set(values(enum_cls)) in lists[column], f"{enum_cls.__name__} no longer matches the schema"
