"""Unit tests of steering by hand: holds, retry, park and pause in the store (real SQLite,
fixed clock) and the reconciler's rules for a parked rig and a paused town."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.store import holds, readiness
from gastown.daemon.store import Store
from gastown.daemon.rules.reconciler import AgentSnap, Dispatch, MRSnap, ProcessMR, ReadyBead, RigSnap, Snapshot, reconcile
from gastown.protocol import ErrorCode
from tests.helpers import Clock, code_of

NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=Clock())
    s.rig_add("app", "/src", "main", "/x")
    return s


def working(s: Store) -> tuple[str, str]:
    b = s.bead_create("fix login", rig="app")
    a, _ = s.dispatch_begin(b["id"], None, rig="app", adapter="scripted")
    s.turn_started(a["name"], turn_dir="/t", token_hash="h", worktree="/w", branch=f"gt/{a['name']}/{b['id']}")
    return b["id"], a["name"]


def test_hold_takes_a_running_bead_back_and_keeps_it_out_of_ready(store: Store) -> None:
    bead_id, name = working(store)
    held = holds.hold(store, bead_id, reason="wait for API", actor="me")
    assert held["status"] == "open" and held["assignee"] is None and holds.HELD in held["labels"]
    assert held["metadata"]["hold"]["reason"] == "wait for API"
    assert held["stopped_agent"] == {"name": name, "turn_dir": "/t"}  # the caller stops that turn
    assert held["dispatch_attempts"] == 0  # the interrupted attempt does not count toward backoff
    agent = store.agent_get(name)
    assert agent["status"] == "idle" and agent["hook_bead_id"] is None and agent["worktree"] == "/w"
    assert bead_id not in readiness.ready_ids(store.conn)
    assert holds.hold(store, bead_id)["stopped_agent"] is None  # idempotent
    assert [e["event_type"] for e in store.bead_events(bead_id)].count("held") == 1
    released = holds.release(store, bead_id, actor="me")
    assert holds.HELD not in released["labels"] and "hold" not in released["metadata"]
    assert bead_id in readiness.ready_ids(store.conn)
    assert code_of(holds.release, store, bead_id) == ErrorCode.INVALID_STATE


def test_hold_refuses_finished_work(store: Store) -> None:
    b = store.bead_create("x", rig="app")
    store.bead_close(b["id"])
    assert code_of(holds.hold, store, b["id"]) == ErrorCode.INVALID_STATE


def test_retry_resets_backoff_releases_and_reopens_failed_with_a_reason(store: Store) -> None:
    b = store.bead_create("x", rig="app")
    store.conn.execute("UPDATE beads SET dispatch_attempts = 3, last_dispatch_at = '2026-01-01T00:00:00.000000Z' "
                       "WHERE id = ?", (b["id"],))
    holds.hold(store, b["id"])
    again = holds.retry(store, b["id"], actor="me")
    assert again["dispatch_attempts"] == 0 and again["last_dispatch_at"] is None and holds.HELD not in again["labels"]
    store.bead_fail(b["id"], {"code": "dispatch_exhausted", "message": "gave up"})
    assert code_of(holds.retry, store, b["id"]) == ErrorCode.INVALID_PARAMS  # a failed bead needs a reason
    reopened = holds.retry(store, b["id"], reason="fixed the flaky test")
    assert reopened["status"] == "open" and reopened["failure_reason"] is None
    bead_id, _ = working(store)
    assert code_of(holds.retry, store, bead_id) == ErrorCode.INVALID_STATE  # being worked on


def test_agent_stop_holds_its_bead(store: Store) -> None:
    bead_id, name = working(store)
    stopped = holds.stop_agent(store, name, actor="me")
    assert stopped["status"] == "stopped" and stopped["held"] == bead_id
    assert bead_id not in readiness.ready_ids(store.conn)


def test_park_and_pause_state_with_events(store: Store) -> None:
    assert code_of(holds.park, store, "nope") == ErrorCode.NOT_FOUND
    assert holds.park(store, "app", reason="freeze")["parked"] is True
    assert holds.town_state(store)["parked_rigs"] == ["app"]
    assert holds.unpark(store, "app")["parked"] is False
    assert code_of(holds.unpark, store, "app") == ErrorCode.INVALID_STATE
    bead_id, name = working(store)
    paused = holds.pause(store, reason="rate limited")
    assert paused["paused"] and paused["stopped"] == [{"name": name, "turn_dir": "/t"}]
    assert store.bead_row(bead_id)["status"] == "open" and holds.HELD not in store.bead_get(bead_id)["labels"]
    assert holds.resume(store)["paused"] is False
    assert code_of(holds.resume, store) == ErrorCode.INVALID_STATE
    kinds = [e["event_type"] for e in store.events_since(0)]
    for kind in ("rig_parked", "rig_unparked", "town_paused", "town_resumed"):
        assert kind in kinds


def _snap(*, parked: bool = False, paused: bool = False) -> Snapshot:
    return Snapshot(ready=(ReadyBead("gt-a", "app", 2, 0, None),),
                    agents=(AgentSnap("toast", "polecat", "app", "idle", None),),
                    rigs={"app": RigSnap("app", parked=parked)},
                    mrs=(MRSnap("gt-m", "app", "main", "open", 2, "2026", "in_review"),), paused=paused)


def test_reconciler_parked_rig_and_paused_town_dispatch_and_merge_nothing() -> None:
    kinds = {type(a) for a in reconcile(_snap(), NOW)}
    assert kinds == {Dispatch, ProcessMR}
    assert reconcile(_snap(parked=True), NOW) == []
    assert reconcile(_snap(paused=True), NOW) == []


@pytest.mark.parametrize("files,expected", [
    ({"test_x.py": "def test_x(): pass\n"}, "python3 -m pytest -q"),
    ({"pyproject.toml": "[tool.pytest.ini_options]\n"}, "python3 -m pytest -q"),
    ({"package.json": '{"scripts": {"test": "jest"}}'}, "npm test"),
    ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'}, None),
    ({"Cargo.toml": "[package]\n"}, "cargo test"),
    ({"go.mod": "module x\n"}, "go test ./..."),
    ({"Makefile": "build:\n\ttrue\ntest: build\n\ttrue\n"}, "make test"),
    ({"Makefile": "build:\n\ttrue\n"}, None),
    ({"README.md": "# nothing to run\n"}, None),
])
def test_gate_detection_on_real_clones(tmp_path: Path, files: dict[str, str], expected: str | None) -> None:
    from gastown.daemon.vcs import gates, git
    from tests.conftest import make_repo

    src = make_repo(tmp_path / "src", files)
    branch = git.clone_rig(str(src), tmp_path / "repo.git")
    assert gates.detect(str(tmp_path / "repo.git"), branch) == expected


def test_escalation_causes() -> None:
    from gastown.daemon.alarm.resolve import why_gone

    failed, open_, closed = ({"id": "gt-a", "status": s} for s in ("failed", "open", "closed"))
    assert why_gone("dispatch", failed, False) is None
    assert "no longer failed" in str(why_gone("dispatch", open_, False))
    assert "closed" in str(why_gone("crash_loop", closed, False))
    assert why_gone("agent_escalated", open_, True) is None
    assert "released" in str(why_gone("agent_escalated", open_, False))
    assert why_gone("gupp", open_, False) is None and why_gone("merge", None, False) is None


def test_a_triage_wait_defers_the_next_gupp_step() -> None:
    from datetime import timedelta

    from gastown.daemon.rules.patrol import Gupp, PatrolAgent, PatrolSnapshot, gupp

    stuck: dict[str, Any] = dict(name="toast", role="polecat", status="working", hook="gt-a", hook_status="in_progress",
                 turn_running=True, progress_at=NOW - timedelta(minutes=95), gupp_level=2,
                 gupp_since=(NOW - timedelta(minutes=95)).isoformat())
    assert gupp(PatrolSnapshot(agents=(PatrolAgent(**stuck),)), NOW) == [
        Gupp("toast", 3, stuck["gupp_since"], 95 * 60.0)]  # 3x gupp: the reset is due
    waiting = PatrolAgent(**stuck, deferred_until=NOW + timedelta(minutes=10))
    assert gupp(PatrolSnapshot(agents=(waiting,)), NOW) == []  # the judge said wait
    assert gupp(PatrolSnapshot(agents=(waiting,)), NOW + timedelta(minutes=11)) != []


def test_mayor_notices_collect_escalations_and_failed_issues_rate_limited(store: Store) -> None:
    from datetime import timedelta

    from gastown.daemon.alarm import mayornotice

    _, start = mayornotice.pending(store, 1 << 62)
    b = store.bead_create("flaky thing", rig="app")
    store.fail_bead(b["id"], {"code": "dispatch_exhausted", "message": "gave up after 5 dispatch attempts"})
    items, last = mayornotice.pending(store, start)
    kinds = sorted((i["type"], i["bead_id"] == b["id"]) for i in items)
    assert kinds == [("escalation", False), ("issue", True)] and last > start  # the bead and its one escalation
    assert "failed bead " + b["id"] in mayornotice.text(items) and "escalation" in mayornotice.text(items)
    assert mayornotice.pending(store, last)[0] == []
    assert not mayornotice.due(None, NOW, 600) and not mayornotice.due({"at": None}, NOW, 0)
    assert mayornotice.due({"at": None}, NOW, 600)
    assert not mayornotice.due({"at": (NOW - timedelta(minutes=5)).isoformat()}, NOW, 600)
    assert mayornotice.due({"at": (NOW - timedelta(minutes=11)).isoformat()}, NOW, 600)


def test_a_removed_rig_leaves_no_park_behind(store: Store) -> None:
    holds.park(store, "app")
    store.patrol_set("no_gate:app", True)
    holds.forget_rig(store, "app")
    assert holds.town_state(store)["parked_rigs"] == [] and store.patrol_get("no_gate:app") is None
