"""An agent's hook changes only through hooks.hook/unhook, and every change is in the audit
log: replaying the `hooked`/`unhooked` events gives every agent's hook as stored, after each
way a hook is set or cleared (dispatch, review, done, a crash, a stop, a hold, a zombie, a
force-closed convoy, `gt done --status no-change`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.store import Store, finish, holds
from gastown.daemon.store.convoyplan import check_plan
from tests.helpers import Clock


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=Clock())
    s.rig_add("app", "/src", "main", "/x")
    return s


def replayed(s: Store) -> dict[str, str | None]:
    """Each agent's hook as the event log tells it (an unhook must clear the bead it names)."""
    hooks: dict[str, str | None] = {a["name"]: None for a in s.agent_list()}
    for e in s.events_since(0, limit=100_000):
        if e["event_type"] == "hooked":
            assert hooks.get(e["new_value"]) is None, f"{e['new_value']} hooked twice: {e}"
            hooks[e["new_value"]] = e["bead_id"]
        elif e["event_type"] == "unhooked":
            assert hooks.get(e["old_value"]) == e["bead_id"], f"unhooked what it did not hold: {e}"
            hooks[e["old_value"]] = None
    return hooks


def stored(s: Store) -> dict[str, str | None]:
    return {a["name"]: a["hook_bead_id"] for a in s.agent_list()}


def check(s: Store) -> None:
    assert replayed(s) == stored(s)


def working(s: Store, title: str = "fix login", agent: str | None = None) -> tuple[str, str]:
    b = s.bead_create(title, rig="app")
    a, _ = s.dispatch_begin(b["id"], agent, rig="app", adapter="scripted")
    s.turn_started(a["name"], turn_dir="/t", token_hash="h", worktree="/w", branch=f"gt/{a['name']}")
    check(s)
    return b["id"], a["name"]


def last(s: Store, bead_id: str, kind: str) -> dict[str, Any]:
    return [e for e in s.bead_events(bead_id) if e["event_type"] == kind][-1]


def test_done_and_review_write_both_events(store: Store) -> None:
    bead_id, name = working(store)
    mr = store.agent_done(name, summary="s", head_sha="abc", branch="gt/toast", target_branch="main", commits=1)
    check(store)
    assert stored(store)[name] is None and last(store, bead_id, "unhooked")["metadata"]["reason"] == "done"
    reviewer = store.review_agent("app", "scripted")
    store.review_begin(mr["id"], reviewer["name"])
    check(store)
    assert stored(store)[reviewer["name"]] == mr["id"]
    store.review_verdict(reviewer["name"], "approve", "fine")
    check(store)
    assert stored(store)[reviewer["name"]] is None


def test_a_crash_gives_back_with_the_failure(store: Store) -> None:
    bead_id, name = working(store)
    assert store.turn_exited(name, exit_code=1) == "crashed"
    check(store)
    assert last(store, bead_id, "unhooked")["metadata"]["failure_reason"]["code"] == "agent_crashed"


def test_stop_hold_and_no_change_unhook_with_an_event(store: Store) -> None:
    _, name = working(store)
    store.agent_stop(name, actor="human")
    check(store)
    b2, other = working(store, "second")
    holds.hold(store, b2, reason="wait", actor="human")
    check(store)
    assert stored(store)[other] is None
    b3, third = working(store, "third", agent=other)
    finish.finish(store, third, status="no-change", summary="already fine")
    check(store)
    assert store.bead_row(b3)["status"] == "closed"


def test_zombie_and_convoy_close_unhook_with_an_event(store: Store) -> None:
    bead_id, name = working(store)
    store.bead_close(bead_id, actor="human")  # the hook now holds finished work
    store.zombie_clear(name, "hooked to a closed bead")
    check(store)
    assert last(store, bead_id, "unhooked")["actor"] == "patrol"
    convoy = store.convoy_create(check_plan({"title": "c", "rig": "app", "beads": [{"title": "m"}]}),
                                 staged=False, actor="human", requested_by="human")
    member = convoy["members"][0]["id"]
    store.dispatch_begin(member, name, rig="app", adapter="scripted")
    check(store)
    _, agents = store.convoy_close(convoy["id"], actor="human", reason="not needed")
    check(store)
    assert agents == [name] and stored(store)[name] is None


def test_the_replay_catches_a_hook_cleared_without_its_event(store: Store) -> None:
    _, name = working(store)
    store.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (name,))  # a side path
    assert replayed(store) != stored(store)
