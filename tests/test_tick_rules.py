"""The scheduling rules that used to sit inside the loop's tick, now pure functions in
`gastown.daemon.rules`: the crash-loop breaker's hold on dispatch, the pull-request poll
throttle, the stranded list, a paused town's nudges and "idle but still working"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from gastown.daemon.rules import patrol, reconciler
from gastown.daemon.rules.reconciler import AgentSnap, Dispatch, FailBead, MRSnap, PollPR, ReadyBead, RigSnap, Snapshot

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
RIGS = {"app": RigSnap("app", max_polecats=2, max_attempts=3)}


def ready(id: str, *, attempts: int = 0, since_s: float = 600, ago: float | None = None) -> ReadyBead:
    last = NOW - timedelta(seconds=ago) if ago is not None else None
    return ReadyBead(id, "app", 2, attempts, last, since=NOW - timedelta(seconds=since_s))


def test_an_open_breaker_stops_dispatch_but_not_giving_up() -> None:
    snap = Snapshot(ready=(ready("gt-new"), ready("gt-spent", attempts=3)), rigs=RIGS, dispatch_stopped=True)
    actions = reconciler.reconcile(snap, NOW)
    assert not any(isinstance(a, Dispatch) for a in actions)
    assert [a.bead_id for a in actions if isinstance(a, FailBead)] == ["gt-spent"]
    assert any(isinstance(a, Dispatch) for a in reconciler.reconcile(
        Snapshot(ready=(ready("gt-new"),), rigs=RIGS), NOW))


def test_the_breaker_stops_dispatch_while_open_and_in_the_tick_it_trips() -> None:
    closed = patrol.PatrolSnapshot()
    assert not patrol.dispatch_stopped(closed, [], NOW)
    assert patrol.dispatch_stopped(closed, [patrol.TripBreaker(NOW + timedelta(minutes=5), 20)], NOW)
    assert patrol.dispatch_stopped(patrol.PatrolSnapshot(breaker_until=NOW + timedelta(seconds=1)), [], NOW)
    assert not patrol.dispatch_stopped(patrol.PatrolSnapshot(breaker_until=NOW), [], NOW)


def test_a_paused_town_keeps_its_patrol_but_starts_no_nudge_turn() -> None:
    acts: list[patrol.PatrolAction] = [patrol.NudgeTurn("toast"), patrol.Quarantine("fizz", 5)]
    assert patrol.while_paused(acts, paused=False) == acts
    assert patrol.while_paused(acts, paused=True) == [patrol.Quarantine("fizz", 5)]


def pr(looked_s: float | None) -> MRSnap:
    looked = NOW - timedelta(seconds=looked_s) if looked_s is not None else None
    return MRSnap("gt-mr", "app", "main", "in_progress", 2, "2026-01-01T00:00:00.000Z", "in_review", pr=True,
                  looked_at=looked)


def test_an_open_pull_request_is_polled_once_per_poll_interval() -> None:
    def polls(mr: MRSnap) -> list[Any]:
        return [a for a in reconciler.merge_queue(Snapshot(mrs=(mr,), rigs=RIGS, pr_poll_s=10.0), NOW)
                if isinstance(a, PollPR)]
    assert polls(pr(None)) == [PollPR("gt-mr")]  # never looked at by this daemon
    assert polls(pr(9.9)) == []
    assert polls(pr(10.0)) == [PollPR("gt-mr")]


def test_stranded_are_the_ready_beads_that_could_start_but_got_no_polecat() -> None:
    snap = Snapshot(ready=(ready("gt-a"), ready("gt-b"), ready("gt-backoff", attempts=1, ago=1),
                           ReadyBead("gt-norig", None, 2, 0, None, since=NOW)), rigs=RIGS)
    actions: list[reconciler.Action] = [Dispatch("gt-a", "app", None, "scripted")]
    assert reconciler.stranded(snap, actions, NOW) == [("gt-b", NOW - timedelta(seconds=600))]


def test_an_idle_agent_whose_turn_has_not_ended_counts_as_working() -> None:
    row = {"status": "idle", "turn_dir": "/t/1", "turn_ended_at": None}
    assert reconciler.effective_status(row) == "working"
    assert reconciler.effective_status({**row, "turn_ended_at": "2026-01-01T00:00:00.000Z"}) == "idle"
    assert reconciler.effective_status({**row, "turn_dir": None}) == "idle"
    assert reconciler.effective_status({**row, "status": "stalled"}) == "stalled"
    busy = AgentSnap("toast", "polecat", "app", reconciler.effective_status(row), None, "gt-x")
    assert not any(isinstance(a, Dispatch) and a.agent == "toast" for a in reconciler.reconcile(
        Snapshot(ready=(ready("gt-a"),), agents=(busy,), rigs=RIGS), NOW))
