"""Unit tests of the work store (agents, hooks, turns, MRs, inbox) on a real SQLite file, fixed clock."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.store import Store
from gastown.daemon.store.agents import NAME_POOL
from gastown.protocol import ErrorCode
from tests.helpers import Clock, code_of


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=Clock())
    s.rig_add("app", "/src", "main", "/x")
    return s


def snapshot(s: Store) -> tuple[list[Any], ...]:
    """Everything a refused call must leave untouched."""
    def q(sql: str) -> list[Any]:
        return list(s.conn.execute(sql))
    return (q("SELECT * FROM beads ORDER BY id"), q("SELECT * FROM agents ORDER BY name"),
            q("SELECT seq FROM bead_events ORDER BY seq"))


def dispatched(s: Store, agent: str | None = None) -> tuple[str, str]:
    b = s.bead_create("fix login", rig="app")
    a, _ = s.dispatch_begin(b["id"], agent, rig="app", adapter="scripted")
    return b["id"], a["name"]


def working(s: Store, agent: str | None = None) -> tuple[str, str]:
    bead_id, name = dispatched(s, agent)
    s.turn_started(name, turn_dir="/t", token_hash="h1", worktree="/w", branch="gt/toast")
    return bead_id, name


def agent_events(s: Store, name: str) -> list[tuple[str, str]]:
    bead_id = s.agent_row(name)["bead_id"]
    return [(e["old_value"], e["new_value"]) for e in s.bead_events(bead_id) if e["event_type"] == "agent_status"]


def test_dispatch_begin_creates_a_polecat(store: Store) -> None:
    b = store.bead_create("fix login", rig="app")
    agent, bead = store.dispatch_begin(b["id"], None, rig="app", adapter="scripted")
    assert agent["name"] == "toast" and agent["role"] == "polecat" and agent["rig"] == "app"
    assert agent["status"] == "starting" and agent["hook_bead_id"] == b["id"] and agent["last_bead_id"] == b["id"]
    assert agent["adapter"] == "scripted"
    assert bead["status"] == "in_progress" and bead["assignee"] == "toast" and bead["dispatch_attempts"] == 1
    assert bead["last_dispatch_at"]
    assert "hooked" in [e["event_type"] for e in store.bead_events(b["id"])]
    assert store.bead_row(agent["bead_id"])["type"] == "agent"
    _, second = dispatched(store)
    assert second == "maple"


def test_names_come_from_the_pool_then_numbered(store: Store) -> None:
    names = [store.agent_create(role="polecat", rig="app", adapter="scripted")["name"] for _ in range(len(NAME_POOL))]
    assert names == list(NAME_POOL)
    assert store.agent_create(role="polecat", rig="app", adapter="scripted")["name"] == "polecat-1"
    assert store.agent_create(role="polecat", rig="app", adapter="scripted")["name"] == "polecat-2"
    assert code_of(store.agent_create, role="polecat", rig="app", adapter="x", name="toast") == ErrorCode.ALREADY_EXISTS


def test_dispatch_begin_reuses_an_idle_agent_and_updates_its_adapter(store: Store) -> None:
    store.agent_create(role="polecat", rig="app", adapter="scripted", name="toast")
    b = store.bead_create("x", rig="app")
    agent, bead = store.dispatch_begin(b["id"], "toast", rig="app", adapter="claude")
    assert agent["adapter"] == "claude" and agent["status"] == "starting" and bead["assignee"] == "toast"
    assert [r[0] for r in store.conn.execute("SELECT name FROM agents")] == ["toast"]


def test_dispatch_begin_refuses_a_bead_no_longer_dispatchable(store: Store) -> None:
    bead_id, _ = dispatched(store)  # now in_progress and assigned
    closed = store.bead_create("closed", rig="app")
    store.bead_close(closed["id"])
    assigned = store.bead_create("assigned", rig="app")
    store.bead_update(assigned["id"], assignee="someone")
    for b in (bead_id, closed["id"], assigned["id"]):
        before = snapshot(store)
        assert code_of(store.dispatch_begin, b, None, rig="app", adapter="scripted") == ErrorCode.CONFLICT
        assert snapshot(store) == before  # no polecat made, nothing written


def test_dispatch_begin_refuses_an_agent_that_is_not_idle(store: Store) -> None:
    _, name = dispatched(store)  # toast is starting
    other = store.bead_create("other", rig="app")
    before = snapshot(store)
    assert code_of(store.dispatch_begin, other["id"], name, rig="app", adapter="claude") == ErrorCode.CONFLICT
    assert snapshot(store) == before
    store.agent_create(role="polecat", rig="app", adapter="scripted", name="maple")
    store.agent_stop("maple", actor="alice")
    before = snapshot(store)
    assert code_of(store.dispatch_begin, other["id"], "maple", rig="app", adapter="scripted") == ErrorCode.CONFLICT
    assert snapshot(store) == before
    assert store.bead_row(other["id"])["status"] == "open"


def test_turn_started_makes_the_agent_working(store: Store) -> None:
    _, name = working(store)
    agent = store.agent_row(name)
    assert agent["status"] == "working" and agent["turns"] == 1 and agent["token_hash"] == "h1"
    assert (agent["worktree"], agent["branch"], agent["turn_dir"]) == ("/w", "gt/toast", "/t")


def test_crash_gives_the_bead_back(store: Store) -> None:
    bead_id, name = working(store)
    assert store.turn_exited(name, exit_code=3, output_tail="x" * 3000 + "Traceback: boom") == "crashed"
    bead = store.bead_row(bead_id)
    assert bead["status"] == "open" and bead["assignee"] is None
    failure = bead["failure_reason"]
    assert failure["code"] == "agent_crashed" and failure["details"]["exit_code"] == 3
    assert failure["details"]["output_tail"].endswith("Traceback: boom")
    assert len(failure["details"]["output_tail"]) == 2000
    agent = store.agent_row(name)
    assert agent["status"] == "idle" and agent["hook_bead_id"] is None and agent["last_bead_id"] == bead_id
    assert len(agent["restarts"]) == 1
    assert "unhooked" in [e["event_type"] for e in store.bead_events(bead_id)]


def test_exit_zero_without_done(store: Store) -> None:
    bead_id, name = working(store)
    assert store.turn_exited(name, exit_code=0, session_id="s1", tokens_in=5, tokens_out=7) == "no_done"
    assert store.bead_row(bead_id)["failure_reason"]["code"] == "exited_without_done"
    agent = store.agent_row(name)
    assert agent["status"] == "idle" and agent["session_id"] == "s1"
    assert (agent["tokens_in"], agent["tokens_out"]) == (5, 7)


def test_a_session_the_cli_could_not_resume_is_forgotten(store: Store) -> None:
    """Resuming a session the CLI never saved fails the same way every time: the store drops
    it (even though the CLI printed its id again) so the next turn starts a fresh one."""
    bead_id, name = working(store)
    store.turn_exited(name, exit_code=0, session_id="s1")
    assert store.agent_row(name)["session_id"] == "s1"
    assert store.turn_exited(name, exit_code=1, session_id="s1", session_lost=True) == "done"
    agent = store.agent_row(name)
    assert agent["session_id"] is None and agent["session_bead_id"] is None
    exits = [e for e in store.bead_events(agent["bead_id"]) if e["event_type"] == "turn_exited"]
    assert [e["metadata"].get("session_lost") for e in exits] == [None, True]


def test_agent_done_hands_off_to_a_merge_request(store: Store) -> None:
    bead_id, name = working(store)
    mr = store.agent_done(name, summary="fixed", head_sha="abc123", branch="gt/toast", target_branch="main",
                          commits=2)
    assert mr["type"] == "merge_request" and mr["status"] == "open" and mr["rig"] == "app"
    assert mr["metadata"]["source_bead_id"] == bead_id
    assert [(d["id"], d["type"]) for d in mr["depends_on"]] == [(bead_id, "tracks")]
    rows = store.merge_requests()
    assert len(rows) == 1 and rows[0]["id"] == mr["id"] and rows[0]["source_bead_id"] == bead_id
    assert (rows[0]["branch"], rows[0]["target_branch"], rows[0]["head_sha"]) == ("gt/toast", "main", "abc123")
    source = store.bead_row(bead_id)
    assert source["status"] == "in_review" and source["failure_reason"] is None
    agent = store.agent_row(name)
    assert agent["status"] == "idle" and agent["hook_bead_id"] is None
    # a later exit of that turn is 'done' and does not touch the bead
    seen = [e["seq"] for e in store.bead_events(bead_id)]
    assert store.turn_exited(name, exit_code=0) == "done"
    assert store.bead_row(bead_id)["status"] == "in_review"
    assert [e["seq"] for e in store.bead_events(bead_id)] == seen
    assert store.agent_row(name)["status"] == "idle"


def test_agent_done_clears_a_previous_failure_reason(store: Store) -> None:
    bead_id, name = working(store)
    store.turn_exited(name, exit_code=1)
    assert store.bead_row(bead_id)["failure_reason"]["code"] == "agent_crashed"
    store.dispatch_begin(bead_id, name, rig="app", adapter="scripted")
    store.turn_started(name, turn_dir="/t", token_hash="h2", worktree="/w", branch="gt/toast")
    store.agent_done(name, summary="fixed", head_sha="abc", branch="gt/toast", target_branch="main", commits=1)
    assert store.bead_row(bead_id)["failure_reason"] is None


def test_agent_done_without_a_hook_is_refused(store: Store) -> None:
    store.agent_create(role="polecat", rig="app", adapter="scripted", name="toast")
    assert code_of(store.agent_done, "toast", summary="", head_sha="a", branch="b", target_branch="main",
                   commits=0) == ErrorCode.INVALID_STATE
    assert store.merge_requests() == []


def test_agent_stop_gives_the_bead_back_and_stays_stopped(store: Store) -> None:
    bead_id, name = working(store)
    agent = store.agent_stop(name, actor="alice")
    assert agent["status"] == "stopped" and agent["hook_bead_id"] is None and agent["restarts"] == []
    bead = store.bead_row(bead_id)
    assert bead["status"] == "open" and bead["assignee"] is None and bead["failure_reason"]["code"] == "stopped"
    assert store.turn_exited(name, exit_code=137) == "stopped"
    assert store.agent_row(name)["status"] == "stopped"
    assert store.bead_row(bead_id)["status"] == "open"


def test_agent_reset(store: Store) -> None:
    bead_id, name = working(store)
    store.turn_exited(name, exit_code=2, session_id="s1")
    assert store.agent_row(name)["restarts"]
    store.agent_stop(name, actor="alice")
    agent = store.agent_reset(name, actor="alice")
    assert agent["status"] == "idle" and agent["token_hash"] is None and agent["session_id"] is None
    assert agent["restarts"] == []
    # a reset of a hooked agent gives its bead back too
    store.dispatch_begin(bead_id, name, rig="app", adapter="scripted")
    agent = store.agent_reset(name, actor="alice")
    assert agent["status"] == "idle" and agent["hook_bead_id"] is None
    assert store.bead_row(bead_id)["failure_reason"]["code"] == "reset"


def test_illegal_agent_transitions_raise_conflict(store: Store) -> None:
    store.agent_create(role="polecat", rig="app", adapter="scripted", name="toast")
    before = snapshot(store)
    # idle -> working skips starting
    assert code_of(store.turn_started, "toast", turn_dir="/t", token_hash="h", worktree="/w",
                   branch="b") == ErrorCode.CONFLICT
    assert snapshot(store) == before and store.agent_row("toast")["turns"] == 0
    store.agent_stop("toast", actor=None)
    assert code_of(store.turn_started, "toast", turn_dir="/t", token_hash="h", worktree="/w",
                   branch="b") == ErrorCode.CONFLICT
    assert store.agent_row("toast")["status"] == "stopped"


def test_every_agent_status_change_writes_an_event(store: Store) -> None:
    bead_id, name = working(store)
    store.turn_exited(name, exit_code=1)
    store.dispatch_begin(bead_id, name, rig="app", adapter="scripted")
    store.agent_stop(name, actor="alice")
    store.agent_reset(name, actor="alice")
    assert agent_events(store, name) == [
        ("idle", "starting"), ("starting", "working"), ("working", "idle"),
        ("idle", "starting"), ("starting", "idle"), ("idle", "stopped"), ("stopped", "idle"),
    ]
    status = [r[0] for r in store.conn.execute("SELECT status FROM agents WHERE name = ?", (name,))]
    assert status == ["idle"]


def test_dispatch_failed_fails_then_idles(store: Store) -> None:
    bead_id, name = dispatched(store)
    store.dispatch_failed(name, {"code": "spawn_failed", "message": "no such binary", "source": "runner"})
    assert agent_events(store, name)[-2:] == [("starting", "failed"), ("failed", "idle")]
    bead = store.bead_row(bead_id)
    assert bead["status"] == "open" and bead["failure_reason"]["code"] == "spawn_failed"
    assert len(store.agent_row(name)["restarts"]) == 1  # a failed start counts toward crash loops and the breaker


def test_inbox_round_trip(store: Store) -> None:
    first = store.inbox_add("turn_exited", agent="toast", bead="gt-abc", payload={"exit": 3})
    second = store.inbox_add("nudge")
    pending = store.inbox_pending()
    assert [e["event_id"] for e in pending] == [first, second]
    assert pending[0]["payload"] == {"exit": 3} and pending[0]["agent_id"] == "toast"
    assert pending[0]["bead_id"] == "gt-abc" and pending[1]["payload"] == {}
    assert [e["event_id"] for e in store.inbox_pending(limit=1)] == [first]
    store.inbox_done(first)
    assert [e["event_id"] for e in store.inbox_pending()] == [second]
    store.inbox_done(second)
    assert store.inbox_pending() == []


def test_escalation_create(store: Store) -> None:
    b = store.bead_create("fix", rig="app")
    esc = store.escalation_create("the agent is stuck", severity="high", source="witness", bead_id=b["id"],
                                  category="stuck")
    assert esc["type"] == "escalation" and esc["severity"] == "high" and esc["body"] == "the agent is stuck"
    assert esc["metadata"] == {"source": "witness", "bead": b["id"]}
    row = list(store.conn.execute("SELECT severity, category, acknowledged FROM escalations WHERE bead_id = ?",
                                  (esc["id"],)))
    assert row == [("high", "stuck", 0)]
    events = store.bead_events(esc["id"])
    assert events[-1]["event_type"] == "escalated" and events[-1]["metadata"] == {"bead": b["id"]}


def test_fail_bead(store: Store) -> None:
    failure = {"code": "dispatch_exhausted", "message": "gave up", "source": "reconciler", "details": {}}
    b = store.bead_create("fix", rig="app")
    store.fail_bead(b["id"], failure)
    row = store.bead_row(b["id"])
    assert row["status"] == "failed" and row["failure_reason"] == failure
    closed = store.bead_create("done", rig="app")
    store.bead_close(closed["id"])
    for bead_id in (b["id"], closed["id"]):
        before = snapshot(store)
        store.fail_bead(bead_id, {**failure, "code": "other"})
        assert snapshot(store) == before
    assert store.bead_row(closed["id"])["status"] == "closed"
    assert json.dumps(store.bead_row(b["id"])["failure_reason"]) == json.dumps(failure)


def test_status_comes_from_output_when_the_agent_set_none_and_clears_on_the_next_hook(store: Store) -> None:
    bead_id, name = working(store)
    store.turn_exited(name, exit_code=0, said="Proof written")
    assert store.agent_row(name)["status_message"] == "Proof written"
    events = [e for e in store.bead_events(store.agent_row(name)["bead_id"]) if e["event_type"] == "agent_status_message"]
    assert events[-1]["new_value"] == "Proof written" and events[-1]["metadata"]["source"] == "output"
    assert store.bead_row(bead_id)["status"] == "open"  # ended without `gt done`: given back
    store.dispatch_begin(bead_id, name, rig="app", adapter="scripted")
    assert store.agent_row(name)["status_message"] is None


def test_an_agents_own_status_wins_over_its_output(store: Store) -> None:
    _, name = working(store)
    store.agent_status_message(name, "running the tests")
    store.turn_exited(name, exit_code=0, said="Something else")
    assert store.agent_row(name)["status_message"] == "running the tests"


def test_an_outside_kill_is_agent_killed_with_the_signal(store: Store) -> None:
    bead_id, name = working(store)
    assert store.turn_exited(name, exit_code=143, ending={"signal": 15}) == "crashed"
    failure = store.bead_row(bead_id)["failure_reason"]
    assert failure["code"] == "agent_killed" and "SIGTERM" in failure["message"]
    assert failure["details"]["signal"] == 15


def test_status_from_output_while_running_follows_the_agent_until_it_speaks_for_itself(store: Store) -> None:
    _, name = working(store)
    assert store.status_from_output(name, "Reading the code") is True
    assert store.status_from_output(name, "Reading the code") is False  # unchanged: no new event
    assert store.status_from_output(name, "Running the tests") is True  # ours: replaced as the turn goes on
    store.agent_status_message(name, "fixing the parser")
    assert store.status_from_output(name, "Something else") is False
    assert store.agent_row(name)["status_message"] == "fixing the parser"
