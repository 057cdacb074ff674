"""Unit tests of the witness's patrol rules: pure functions of a snapshot and a fixed `now`, no I/O."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gastown.daemon.rules.patrol import (
    Gupp,
    NudgeTurn,
    PatrolAction,
    PatrolAgent,
    PatrolEscalation,
    PatrolSettings,
    PatrolSnapshot,
    Quarantine,
    Reescalate,
    ReportStranded,
    StopZombie,
    TripBreaker,
    breaker,
    breaker_open,
    crash_loops,
    describe,
    gupp,
    nudge_turns,
    patrol,
    reescalation,
    stranded,
    zombies,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
S = PatrolSettings()  # gupp 30 min, crash_loop 5, breaker 20 in 30 min, stranded 10 min, reescalate 4 h, max 3


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def ts(seconds_ago: float) -> float:
    return NOW.timestamp() - seconds_ago


def agent(name: str = "toast", *, role: str = "polecat", status: str = "idle", hook: str | None = None,
          hook_status: str | None = None, running: bool = False, progress: datetime | None = None,
          restarts: tuple[float, ...] = (), level: int = 0, since: str | None = None, worktree: bool = False,
          nudges: tuple[str, ...] = ()) -> PatrolAgent:
    return PatrolAgent(name, role, status, hook, hook_status, running, progress, restarts, level, since,
                       worktree, nudges)


def busy(name: str = "toast", *, idle_s: float, level: int = 0, since: str | None = None, **kw) -> PatrolAgent:  # type: ignore[no-untyped-def]
    """A hooked, running polecat whose last progress was `idle_s` ago."""
    kw = {"status": "working", "hook": "gt-a", "hook_status": "in_progress", "running": True, **kw}
    return agent(name, progress=ago(idle_s), level=level, since=since, **kw)


def snap(*agents: PatrolAgent, **kw) -> PatrolSnapshot:  # type: ignore[no-untyped-def]
    return PatrolSnapshot(agents=agents, **kw)


# ---------------------------------------------------------------- crash loops
def test_crash_loop_at_exactly_the_threshold_quarantines() -> None:
    five = tuple(ts(60 * i + 1) for i in range(5))
    assert crash_loops(snap(agent(restarts=five)), NOW) == [Quarantine("toast", 5)]
    assert crash_loops(snap(agent(restarts=five[:4])), NOW) == []


def test_crash_loop_ignores_restarts_older_than_an_hour() -> None:
    four_recent = tuple(ts(60 * i + 1) for i in range(4))
    old = (ts(3600), ts(3601), ts(7200))  # exactly an hour ago does not count either
    assert crash_loops(snap(agent(restarts=four_recent + old)), NOW) == []
    # only the recent ones are counted in the action
    assert crash_loops(snap(agent(restarts=four_recent + (ts(3599),) + old)), NOW) == [Quarantine("toast", 5)]


@pytest.mark.parametrize("status", ["quarantined", "stopped"])
def test_crash_loop_skips_quarantined_and_stopped_agents(status: str) -> None:
    many = tuple(ts(i + 1) for i in range(10))
    assert crash_loops(snap(agent(status=status, restarts=many)), NOW) == []


def test_crash_loop_threshold_comes_from_settings() -> None:
    two = (ts(1), ts(2))
    assert crash_loops(snap(agent(restarts=two), settings=PatrolSettings(crash_loop=2)), NOW) == [
        Quarantine("toast", 2)]


# ----------------------------------------------------------------------- GUPP
def test_gupp_below_1x_does_nothing() -> None:
    assert gupp(snap(busy(idle_s=S.gupp_s - 1)), NOW) == []
    assert gupp(snap(busy(idle_s=0)), NOW) == []


def test_gupp_at_1x_nudges() -> None:
    a = busy(idle_s=S.gupp_s)
    assert gupp(snap(a), NOW) == [Gupp("toast", 1, a.progress_at.isoformat(), S.gupp_s)]  # type: ignore[union-attr]


def test_gupp_ladder_steps_once_per_level() -> None:
    since = ago(S.gupp_s * 1.5).isoformat()
    # level 1 already taken for this same progress mark: nothing more at 1.5x
    assert gupp(snap(busy(idle_s=S.gupp_s * 1.5, level=1, since=since)), NOW) == []
    since2 = ago(S.gupp_s * 2).isoformat()
    assert gupp(snap(busy(idle_s=S.gupp_s * 2, level=1, since=since2)), NOW) == [
        Gupp("toast", 2, since2, S.gupp_s * 2)]
    assert gupp(snap(busy(idle_s=S.gupp_s * 2.5, level=2, since=ago(S.gupp_s * 2.5).isoformat())), NOW) == []
    since3 = ago(S.gupp_s * 3).isoformat()
    assert gupp(snap(busy(idle_s=S.gupp_s * 3, level=2, since=since3)), NOW) == [
        Gupp("toast", 3, since3, S.gupp_s * 3)]


def test_gupp_never_goes_beyond_level_3() -> None:
    for mult in (3, 4, 10, 100):
        idle = S.gupp_s * mult
        assert gupp(snap(busy(idle_s=idle, level=3, since=ago(idle).isoformat())), NOW) == []


def test_gupp_takes_one_step_per_patrol_even_when_far_overdue() -> None:
    """At 3x with nothing stored the ladder still starts at the nudge, one level per run."""
    a = busy(idle_s=S.gupp_s * 5)
    levels = []
    for _ in range(5):
        actions = gupp(snap(a), NOW)
        if not actions:
            break
        (g,) = actions
        assert isinstance(g, Gupp)
        levels.append(g.level)
        a = dataclasses.replace(a, gupp_level=g.level, gupp_since=g.since)
    assert levels == [1, 2, 3]


def test_gupp_progress_resets_the_ladder() -> None:
    old_since = ago(S.gupp_s * 3).isoformat()
    # progress happened after the ladder's mark: stored level 3 no longer applies
    a = busy(idle_s=S.gupp_s * 1.2, level=3, since=old_since)
    assert gupp(snap(a), NOW) == [Gupp("toast", 1, a.progress_at.isoformat(), S.gupp_s * 1.2)]  # type: ignore[union-attr]
    # and with fresh progress below 1x, nothing at all
    assert gupp(snap(busy(idle_s=60, level=3, since=old_since)), NOW) == []


@pytest.mark.parametrize("change", [
    {"role": "refinery"}, {"role": "mayor"}, {"hook": None}, {"running": False}, {"progress": None},
])
def test_gupp_only_hooked_running_polecats(change: dict[str, Any]) -> None:
    kw = {"status": "working", "hook": "gt-a", "hook_status": "in_progress", "running": True,
          "progress": ago(S.gupp_s * 2), **change}
    assert gupp(snap(agent(**kw)), NOW) == []


# -------------------------------------------------------------------- zombies
@pytest.mark.parametrize("status", ["working", "starting", "stalled"])
@pytest.mark.parametrize("role", ["polecat", "refinery"])
def test_working_without_a_hook_is_a_zombie(status: str, role: str) -> None:
    actions = zombies(snap(agent(role=role, status=status)), NOW)
    assert [type(a) for a in actions] == [StopZombie] and actions[0].agent == "toast"  # type: ignore[union-attr]
    assert status in actions[0].reason  # type: ignore[union-attr]


@pytest.mark.parametrize("hook_status", ["closed", "failed"])
def test_polecat_hooked_to_a_finished_bead_is_a_zombie(hook_status: str) -> None:
    a = agent(status="working", hook="gt-a", hook_status=hook_status, running=True)
    assert zombies(snap(a), NOW) == [StopZombie("toast", f"hooked to gt-a, which is already {hook_status}")]


@pytest.mark.parametrize("a", [
    agent(),  # idle, unhooked
    agent(status="working", hook="gt-a", hook_status="in_progress"),
    agent(status="starting", hook="gt-a", hook_status="in_progress"),
    agent(role="mayor", status="working"),  # not a worker role
    agent(role="refinery", status="working", hook="gt-mr", hook_status="closed"),  # only polecats for this check
    agent(status="quarantined"),
    agent(status="stopped"),
])
def test_not_zombies(a: PatrolAgent) -> None:
    assert zombies(snap(a), NOW) == []


# -------------------------------------------------------------------- breaker
BS = PatrolSettings(breaker_failures=3, breaker_s=600)


def test_breaker_trips_on_failures_across_agents_within_the_window() -> None:
    agents = (agent("toast", restarts=(ts(10), ts(20))), agent("maple", restarts=(ts(30), ts(601))))
    assert breaker(snap(*agents, settings=BS), NOW) == [TripBreaker(NOW + timedelta(seconds=600), 3)]


def test_breaker_below_threshold_does_nothing() -> None:
    agents = (agent("toast", restarts=(ts(10),)), agent("maple", restarts=(ts(30), ts(600), ts(900))))
    assert breaker(snap(*agents, settings=BS), NOW) == []


def test_breaker_while_open_does_not_trip_again() -> None:
    agents = (agent("toast", restarts=tuple(ts(i + 1) for i in range(10))),)
    open_ = snap(*agents, settings=BS, breaker_until=NOW + timedelta(seconds=1))
    assert breaker_open(open_, NOW) and breaker(open_, NOW) == []
    expired = snap(*agents, settings=BS, breaker_until=NOW)  # until == now: closed again
    assert not breaker_open(expired, NOW)
    assert breaker(expired, NOW) == [TripBreaker(NOW + timedelta(seconds=600), 10)]
    assert not breaker_open(snap(), NOW)


# ------------------------------------------------------------------- stranded
def test_stranded_reported_after_stranded_s() -> None:
    waiting = (("gt-a", ago(S.stranded_s)), ("gt-b", ago(S.stranded_s - 1)), ("gt-c", ago(S.stranded_s * 10)))
    assert stranded(PatrolSnapshot(stranded=waiting), NOW) == [ReportStranded(("gt-a", "gt-c"))]
    assert stranded(PatrolSnapshot(stranded=waiting[1:2]), NOW) == []


def test_stranded_reported_at_most_hourly() -> None:
    waiting = (("gt-a", ago(7200)), ("gt-b", ago(7200)))
    recent = {"gt-a": ago(3599), "gt-b": ago(3600)}
    assert stranded(PatrolSnapshot(stranded=waiting, stranded_reported=recent), NOW) == [ReportStranded(("gt-b",))]
    assert stranded(PatrolSnapshot(stranded=waiting[:1], stranded_reported=recent), NOW) == []


# --------------------------------------------------------------- reescalation
def esc(id: str = "gt-e", severity: str = "medium", count: int = 0, routed_s: float = S.reescalate_s) -> PatrolEscalation:
    return PatrolEscalation(id, severity, count, ago(routed_s))


def test_reescalation_due_after_reescalate_s_since_routed() -> None:
    assert reescalation(PatrolSnapshot(escalations=(esc(),)), NOW) == [Reescalate("gt-e")]
    assert reescalation(PatrolSnapshot(escalations=(esc(routed_s=S.reescalate_s - 1),)), NOW) == []


def test_reescalation_never_for_critical_nor_beyond_the_max() -> None:
    old = S.reescalate_s * 10
    escs = (esc("gt-1", "critical", 0, old), esc("gt-2", "low", S.max_reescalations, old),
            esc("gt-3", "high", S.max_reescalations - 1, old), esc("gt-4", "low", 0, old))
    assert reescalation(PatrolSnapshot(escalations=escs), NOW) == [Reescalate("gt-3"), Reescalate("gt-4")]


# ---------------------------------------------------------------- nudge turns
def test_idle_agent_with_an_immediate_or_wait_idle_nudge_gets_a_turn() -> None:
    for modes in (("immediate",), ("wait-idle",), ("queue", "wait-idle")):
        assert nudge_turns(snap(agent(worktree=True, nudges=modes)), NOW) == [NudgeTurn("toast")]


@pytest.mark.parametrize("a", [
    agent(worktree=True, nudges=("queue",)),  # a queue nudge waits for the next turn
    agent(worktree=True, nudges=("queue", "queue")),
    agent(worktree=True),  # no nudge
    agent(worktree=False, nudges=("immediate",)),  # nowhere to run a turn
    agent(worktree=True, nudges=("immediate",), hook="gt-a", hook_status="in_progress"),
    agent(worktree=True, nudges=("immediate",), running=True),
    agent(worktree=True, nudges=("immediate",), status="working", hook="gt-a"),
    agent(worktree=True, nudges=("immediate",), status="quarantined"),
])
def test_no_nudge_turn(a: PatrolAgent) -> None:
    assert nudge_turns(snap(a), NOW) == []


# -------------------------------------------------------------- whole patrol
def town() -> PatrolSnapshot:
    """A snapshot in which every rule has something to do."""
    settings = PatrolSettings(breaker_failures=6, breaker_s=600)
    return PatrolSnapshot(
        agents=(
            agent("crashy", restarts=tuple(ts(i * 10 + 1) for i in range(5))),
            busy("slow", idle_s=S.gupp_s * 2.2, level=1, since=ago(S.gupp_s * 2.2).isoformat()),
            busy("fresh", idle_s=S.gupp_s * 1.1),
            agent("ghost", status="working"),
            agent("late", status="working", hook="gt-z", hook_status="closed", running=True, restarts=(ts(5),)),
            agent("nudged", worktree=True, nudges=("immediate",)),
        ),
        escalations=(esc("gt-e1", "low"), esc("gt-e2", "critical")),
        stranded=(("gt-s", ago(S.stranded_s * 2)),),
        settings=settings,
    )


def test_patrol_runs_every_rule_in_order() -> None:
    actions = patrol(town(), NOW)
    assert [type(a) for a in actions] == [Quarantine, Gupp, Gupp, StopZombie, StopZombie, TripBreaker,
                                          ReportStranded, Reescalate, NudgeTurn]
    assert [(a.agent, a.level) for a in actions if isinstance(a, Gupp)] == [("slow", 2), ("fresh", 1)]
    assert all(describe(a)["type"] == type(a).__name__ for a in actions)


def test_patrol_is_deterministic_and_does_not_mutate_its_input() -> None:
    s = town()
    before = copy.deepcopy(s)
    first = patrol(s, NOW)
    assert patrol(s, NOW) == first
    assert s == before


def apply(s: PatrolSnapshot, actions: list[PatrolAction], now: datetime) -> PatrolSnapshot:
    """What the witness stores for each action (the pure part of witness.apply)."""
    agents = {a.name: a for a in s.agents}
    escs = {e.id: e for e in s.escalations}
    breaker_until, reported = s.breaker_until, dict(s.stranded_reported)
    sev = ["low", "medium", "high", "critical"]
    for act in actions:
        if isinstance(act, Quarantine):
            agents[act.agent] = dataclasses.replace(agents[act.agent], status="quarantined", hook=None,
                                                    hook_status=None, turn_running=False)
        elif isinstance(act, Gupp):
            agents[act.agent] = dataclasses.replace(agents[act.agent], gupp_level=act.level, gupp_since=act.since)
        elif isinstance(act, StopZombie):
            agents[act.agent] = dataclasses.replace(agents[act.agent], status="idle", hook=None, hook_status=None,
                                                    turn_running=False)
        elif isinstance(act, TripBreaker):
            breaker_until = act.until
        elif isinstance(act, ReportStranded):
            reported.update({b: now for b in act.bead_ids})
        elif isinstance(act, Reescalate):
            e = escs[act.escalation]
            escs[e.id] = dataclasses.replace(e, severity=sev[min(sev.index(e.severity) + 1, 3)], count=e.count + 1,
                                             routed_at=now)
        elif isinstance(act, NudgeTurn):
            agents[act.agent] = dataclasses.replace(agents[act.agent], status="starting", turn_running=True,
                                                    nudges=())
    return dataclasses.replace(s, agents=tuple(agents.values()), escalations=tuple(escs.values()),
                               breaker_until=breaker_until, stranded_reported=reported)


def test_no_storm_applied_actions_never_repeat_at_the_same_now() -> None:
    s = town()
    first = patrol(s, NOW)
    assert first
    s2 = apply(s, first, NOW)
    second = patrol(s2, NOW)
    assert not set(map(repr, first)) & set(map(repr, second))
    # and it settles: a few more runs at the same now end with nothing to do
    for _ in range(3):
        s2 = apply(s2, patrol(s2, NOW), NOW)
    assert patrol(s2, NOW) == []


@pytest.mark.parametrize("status", ["starting", "working"])
def test_a_nudge_turn_is_not_a_zombie(status: str) -> None:
    a = agent("nudged", worktree=True, nudges=("immediate",))
    (act,) = patrol(snap(a), NOW)
    assert act == NudgeTurn("nudged")
    # what the witness does for it: nudge_turn_begin (starting), then turn_started (working), nudges delivered
    in_turn = dataclasses.replace(a, status=status, turn_running=True, nudges=(), progress_at=NOW)
    assert patrol(snap(in_turn), NOW + timedelta(seconds=5)) == []


@pytest.mark.parametrize("mult", [1, 2, 3, 7])
def test_no_storm_for_gupp_at_any_level(mult: int) -> None:
    a = busy(idle_s=S.gupp_s * mult)
    seen: list[PatrolAction] = []
    s = snap(a)
    for _ in range(6):
        acts = gupp(s, NOW)
        assert not set(acts) & set(seen)
        seen += acts
        s = apply(s, acts, NOW)
    assert [g.level for g in seen if isinstance(g, Gupp)] == list(range(1, min(3, mult) + 1))
