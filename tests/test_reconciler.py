"""Unit tests of the reconciler's rules: a pure function on a snapshot, a fixed `now`, no I/O."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gastown.daemon.rules.reconciler import (
    BACKOFF_S,
    Action,
    AgentSnap,
    Dispatch,
    FailBead,
    ReadyBead,
    RigSnap,
    Snapshot,
    reconcile,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
APP = RigSnap("app", max_polecats=2)
RIGS = {"app": APP, "web": RigSnap("web", adapter="claude")}


def bead(id: str = "gt-a", rig: str | None = "app", *, attempts: int = 0, ago: float | None = None,
         adapter: str | None = None, priority: int = 2) -> ReadyBead:
    last = NOW - timedelta(seconds=ago) if ago is not None else None
    return ReadyBead(id, rig, priority, attempts, last, adapter)


def polecat(name: str, rig: str | None = "app", status: str = "idle", hook: str | None = None,
            last: str | None = None) -> AgentSnap:
    return AgentSnap(name, "polecat", rig, status, hook, last)


def run(*beads: ReadyBead, agents: tuple[AgentSnap, ...] = (), rigs: dict[str, RigSnap] = RIGS) -> list[Any]:
    return reconcile(Snapshot(ready=tuple(beads), agents=agents, rigs=rigs), NOW)


def test_idle_polecat_on_the_rig_gets_the_bead() -> None:
    assert run(bead(), agents=(polecat("toast"),)) == [Dispatch("gt-a", "app", "toast", "scripted")]


def test_no_idle_polecat_and_capacity_left_makes_a_new_one() -> None:
    assert run(bead(), agents=(polecat("toast", status="working", hook="gt-x"),)) == [
        Dispatch("gt-a", "app", None, "scripted")]
    assert run(bead()) == [Dispatch("gt-a", "app", None, "scripted")]


def test_rig_at_max_polecats_busy_dispatches_nothing() -> None:
    busy = (polecat("toast", status="working", hook="gt-x"), polecat("maple", status="working", hook="gt-y"))
    assert run(bead(), agents=busy) == []


@pytest.mark.parametrize("status", ["starting", "working", "stalled"])
def test_max_polecats_counts_every_busy_status(status: str) -> None:
    busy = (polecat("toast", status=status, hook="gt-x"), polecat("maple", status=status, hook="gt-y"))
    # an idle polecat on the rig does not help once the busy ones fill max_polecats
    assert run(bead(), agents=(*busy, polecat("birch"))) == []
    # one busy slot left: dispatch
    assert run(bead(), agents=(busy[0], polecat("birch"))) == [Dispatch("gt-a", "app", "birch", "scripted")]


def test_several_ready_beads_fill_capacity_in_order() -> None:
    beads = [bead(f"gt-{c}") for c in "abcd"]
    assert run(*beads, agents=(polecat("toast"),)) == [
        Dispatch("gt-a", "app", "toast", "scripted"),
        Dispatch("gt-b", "app", None, "scripted"),
    ]
    # with one slot already busy, only the first bead goes
    assert run(*beads, agents=(polecat("toast", status="working", hook="gt-x"),)) == [
        Dispatch("gt-a", "app", None, "scripted")]


@pytest.mark.parametrize("rig", [None, "", "nope"])
def test_bead_without_a_known_rig_is_never_dispatched(rig: str | None) -> None:
    assert run(bead(rig=rig), agents=(polecat("toast"), polecat("maple", rig="web"))) == []


def test_backoff_ladder() -> None:
    assert BACKOFF_S[1:] == (30, 60, 120, 300, 600)
    assert run(bead(attempts=1, ago=10)) == []
    assert run(bead(attempts=1, ago=31)) == [Dispatch("gt-a", "app", None, "scripted")]
    assert run(bead(attempts=1, ago=30)) == [Dispatch("gt-a", "app", None, "scripted")]  # boundary
    assert run(bead(attempts=2, ago=59)) == []
    assert run(bead(attempts=2, ago=61)) != []
    assert run(bead(attempts=3, ago=119)) == []
    assert run(bead(attempts=4, ago=299)) == []
    many = {"app": RigSnap("app", max_attempts=20)}
    assert run(bead(attempts=5, ago=599), rigs=many) == []
    assert run(bead(attempts=9, ago=599), rigs=many) == []  # the ladder tops out at 600 s
    assert run(bead(attempts=9, ago=601), rigs=many) != []
    # never dispatched before: no wait
    assert run(bead(attempts=0, ago=0)) != []


def test_backoff_scale_multiplies_the_ladder() -> None:
    fast = {"app": RigSnap("app", backoff_scale=0.1)}
    assert run(bead(attempts=1, ago=2), rigs=fast) == []
    assert run(bead(attempts=1, ago=3.5), rigs=fast) != []
    slow = {"app": RigSnap("app", backoff_scale=2.0)}
    assert run(bead(attempts=1, ago=31), rigs=slow) == []
    assert run(bead(attempts=1, ago=61), rigs=slow) != []


def test_exhausted_attempts_fail_the_bead() -> None:
    rigs = {"app": RigSnap("app", max_attempts=3)}
    for attempts in (3, 4):
        out = run(bead(attempts=attempts, ago=10_000), agents=(polecat("toast"),), rigs=rigs)
        assert len(out) == 1 and isinstance(out[0], FailBead)
        assert out[0].bead_id == "gt-a"
        failure = out[0].failure
        assert failure["code"] == "dispatch_exhausted"
        assert failure["details"] == {"attempts": attempts, "max_attempts": 3}
        assert failure["message"] and failure["source"] == "reconciler"
    # exhaustion does not wait for the backoff
    out = run(bead(attempts=3, ago=1), rigs=rigs)
    assert [type(a) for a in out] == [FailBead]
    # one below the limit still dispatches
    assert run(bead(attempts=2, ago=10_000), rigs=rigs) == [Dispatch("gt-a", "app", None, "scripted")]


def test_an_exhausted_bead_does_not_take_capacity() -> None:
    rigs = {"app": RigSnap("app", max_polecats=1, max_attempts=2)}
    out = run(bead("gt-a", attempts=2), bead("gt-b"), rigs=rigs)
    assert [type(a) for a in out] == [FailBead, Dispatch]
    assert out[1] == Dispatch("gt-b", "app", None, "scripted")


def test_last_worker_is_preferred() -> None:
    agents = (polecat("toast", last="gt-z"), polecat("maple", last="gt-a"))
    assert run(bead("gt-a"), agents=agents) == [Dispatch("gt-a", "app", "maple", "scripted")]


def test_last_worker_is_kept_for_its_bead_when_it_comes_later() -> None:
    agents = (polecat("toast", last="gt-b"), polecat("maple"))
    assert run(bead("gt-a"), bead("gt-b"), agents=agents) == [
        Dispatch("gt-a", "app", "maple", "scripted"),
        Dispatch("gt-b", "app", "toast", "scripted"),
    ]


def test_polecat_on_another_rig_is_not_used() -> None:
    agents = (polecat("toast", rig="web"), polecat("maple", rig="web", last="gt-a"))
    assert run(bead("gt-a"), agents=agents) == [Dispatch("gt-a", "app", None, "scripted")]
    # and busy polecats of another rig do not eat this rig's capacity
    busy = tuple(polecat(f"w{i}", rig="web", status="working", hook=f"gt-w{i}") for i in range(5))
    assert run(bead("gt-a"), agents=busy) == [Dispatch("gt-a", "app", None, "scripted")]


def test_non_polecats_are_ignored() -> None:
    agents = (AgentSnap("refinery", "refinery", "app", "idle", None),
              AgentSnap("mayor", "mayor", "app", "working", "gt-m"),
              AgentSnap("refinery2", "refinery", "app", "working", "gt-n"))
    assert run(bead(), agents=agents) == [Dispatch("gt-a", "app", None, "scripted")]


def test_stopped_frees_its_slot_but_quarantined_keeps_it() -> None:
    # max_polecats=2: a stopped polecat frees its slot; a quarantined one keeps it, so a
    # crash loop cannot be answered by spawning fresh polecats
    agents = (polecat("toast", status="stopped"), polecat("maple", status="quarantined"))
    assert run(bead("gt-a"), bead("gt-b"), agents=agents) == [Dispatch("gt-a", "app", None, "scripted")]
    assert run(bead("gt-a"), agents=(polecat("toast", status="stopped"),) * 1) == [
        Dispatch("gt-a", "app", None, "scripted")]
    assert run(bead("gt-a"), agents=(polecat("toast", status="quarantined"),
                                     polecat("maple", status="quarantined"))) == []


def test_stopped_polecat_is_never_dispatched() -> None:
    agents = (polecat("toast", status="stopped", last="gt-a"),)
    out = run(bead("gt-a"), agents=agents)
    assert out == [Dispatch("gt-a", "app", None, "scripted")]
    assert all(a.agent != "toast" for a in out)
    for status in ("quarantined", "failed"):
        assert run(bead("gt-a"), agents=(polecat("toast", status=status, last="gt-a"),))[0].agent is None


def test_idle_polecats_count_toward_total() -> None:
    # two idle polecats that are not usable for new work (hooked) fill max_polecats=2
    agents = (polecat("toast", hook="gt-x"), polecat("maple", hook="gt-y"))
    assert run(bead(), agents=agents) == []


def test_bead_adapter_overrides_rig_adapter() -> None:
    assert run(bead(adapter="codex"), agents=(polecat("toast"),)) == [Dispatch("gt-a", "app", "toast", "codex")]
    assert run(bead(adapter="codex")) == [Dispatch("gt-a", "app", None, "codex")]
    assert run(bead(rig="web")) == [Dispatch("gt-a", "web", None, "claude")]


def test_deterministic_and_does_not_mutate_the_snapshot() -> None:
    snap = Snapshot(
        ready=(bead("gt-a"), bead("gt-b", attempts=1, ago=100), bead("gt-c", rig="web"), bead("gt-d", attempts=9)),
        agents=(polecat("toast", last="gt-b"), polecat("maple"), polecat("birch", rig="web", status="working",
                                                                          hook="gt-q")),
        rigs={"app": RigSnap("app", max_polecats=3), "web": RigSnap("web", max_polecats=1)},
    )
    before = copy.deepcopy(snap)
    first = reconcile(snap, NOW)
    second = reconcile(snap, NOW)
    assert first == second and first
    assert snap == before
    assert snap.rigs == before.rigs and list(snap.rigs) == ["app", "web"]


# ------------------------------------------------------------------ the pr strategy
def test_open_pull_requests_do_not_hold_the_lane() -> None:
    from gastown.daemon.rules.reconciler import MRSnap, PollPR, ProcessMR, merge_queue

    def mr(id: str, status: str, pr: bool = False, not_before: datetime | None = None) -> MRSnap:
        return MRSnap(id, "app", "main", status, 2, f"2026-01-01T00:00:0{id[-1]}", "in_review", pr, not_before)

    snap = Snapshot(rigs=RIGS, mrs=(mr("m1", "in_progress", pr=True), mr("m2", "in_progress", pr=True),
                                    mr("m3", "open"), mr("m4", "open")))
    assert merge_queue(snap, NOW) == [PollPR("m1"), PollPR("m2"), ProcessMR("m3")]  # one merge, every PR polled
    busy = Snapshot(rigs=RIGS, mrs=(mr("m1", "in_progress"), mr("m3", "open")))
    assert merge_queue(busy, NOW) == [ProcessMR("m1")]  # a merge (or a PR being opened) still holds it
    later = NOW + timedelta(seconds=30)
    waiting = Snapshot(rigs=RIGS, mrs=(mr("m1", "in_progress", not_before=later),
                                       mr("m2", "in_progress", pr=True, not_before=later), mr("m3", "open")))
    assert merge_queue(waiting, NOW) == []  # a forge asked us to wait: nothing, and the lane stays held
    assert merge_queue(waiting, later) == [PollPR("m2"), ProcessMR("m1")]


def test_a_pr_follow_up_waits_for_the_polecat_that_opened_it() -> None:
    followup = ReadyBead("gt-f", "app", 2, 0, None, prefer="toast")
    busy = (polecat("toast", status="working", hook="gt-x"), polecat("maple"))
    assert run(followup, agents=busy) == []  # maple is idle, but the branch and context are toast's
    free = (polecat("toast"), polecat("maple"))
    assert run(followup, agents=free) == [Dispatch("gt-f", "app", "toast", "scripted")]
    gone = (polecat("toast", status="stopped"), polecat("maple"))
    assert run(followup, agents=gone) == [Dispatch("gt-f", "app", "maple", "scripted")]  # stopped: anyone


def test_rework_waits_for_the_polecat_whose_turn_is_still_exiting_then_another_takes_it() -> None:
    from dataclasses import replace

    from gastown.daemon.rules.reconciler import REWORK_WAIT_S

    exiting = (polecat("maple", status="working", last="gt-a"), polecat("toast"))
    fresh = replace(bead("gt-a"), since=NOW - timedelta(seconds=5))
    assert run(fresh, agents=exiting) == []  # maple handed it in and is still exiting: wait
    late = replace(bead("gt-a"), since=NOW - timedelta(seconds=REWORK_WAIT_S + 1))
    assert run(late, agents=exiting) == [Dispatch("gt-a", "app", "toast", "scripted")]  # bounded
    back = (polecat("maple", last="gt-a"), polecat("toast"))
    assert run(fresh, agents=back) == [Dispatch("gt-a", "app", "maple", "scripted")]  # its turn exited
