"""The witness: health patrol rules as pure functions of a snapshot and `now`.

Deterministic code; nothing here calls a model. Every rule reads its stored counters
from the snapshot and returns actions that update them, so a rule fires once per step
of its ladder, never in a storm, and none of its actions can re-trigger it (cloud #965).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Union

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class PatrolAgent:
    name: str
    role: str
    status: str
    hook: str | None
    hook_status: str | None  # status of the hooked bead
    turn_running: bool
    progress_at: datetime | None  # last sign of progress: turn start, output, a tool call
    restarts: tuple[float, ...] = ()  # crash timestamps (epoch seconds) in the last hour
    gupp_level: int = 0  # 0 none, 1 nudged, 2 escalated, 3 reset
    gupp_since: str | None = None  # the progress_at the ladder counted from
    has_worktree: bool = False
    nudges: tuple[str, ...] = ()  # modes of live undelivered nudges
    quarantine_escalated: bool = False
    deferred_until: datetime | None = None  # a triage "wait": no further gupp step before this


@dataclass(frozen=True)
class PatrolEscalation:
    id: str
    severity: str
    count: int  # re-escalations so far
    routed_at: datetime


@dataclass(frozen=True)
class PatrolSettings:
    gupp_s: float = 1800.0
    crash_loop: int = 5
    breaker_failures: int = 20
    breaker_s: float = 1800.0
    stranded_s: float = 600.0
    reescalate_s: float = 4 * 3600.0
    max_reescalations: int = 3


@dataclass(frozen=True)
class PatrolSnapshot:
    agents: tuple[PatrolAgent, ...] = ()
    escalations: tuple[PatrolEscalation, ...] = ()
    breaker_until: datetime | None = None
    stranded: tuple[tuple[str, datetime], ...] = ()  # ready beads waiting for capacity, since when
    stranded_reported: dict[str, datetime] = field(default_factory=dict)
    settings: PatrolSettings = field(default_factory=PatrolSettings)


@dataclass(frozen=True)
class Quarantine:
    agent: str
    restarts: int


@dataclass(frozen=True)
class Gupp:
    agent: str
    level: int  # the step to take now: 1 nudge, 2 escalate, 3 reset
    since: str
    idle_s: float


@dataclass(frozen=True)
class StopZombie:
    agent: str
    reason: str


@dataclass(frozen=True)
class TripBreaker:
    until: datetime
    failures: int


@dataclass(frozen=True)
class ReportStranded:
    bead_ids: tuple[str, ...]


@dataclass(frozen=True)
class Reescalate:
    escalation: str


@dataclass(frozen=True)
class NudgeTurn:
    agent: str


PatrolAction = Union[Quarantine, Gupp, StopZombie, TripBreaker, ReportStranded, Reescalate, NudgeTurn]


def breaker_open(snap: PatrolSnapshot, now: datetime) -> bool:
    return snap.breaker_until is not None and now < snap.breaker_until


def dispatch_stopped(snap: PatrolSnapshot, actions: list[PatrolAction], now: datetime) -> bool:
    """No new turns this tick while the crash-loop breaker is open or trips now."""
    return breaker_open(snap, now) or any(isinstance(a, TripBreaker) for a in actions)


def while_paused(actions: list[PatrolAction], paused: bool) -> list[PatrolAction]:
    """A paused town starts no turn, not even a nudge's: nudges wait for `gt town resume`."""
    return [a for a in actions if not isinstance(a, NudgeTurn)] if paused else actions


def patrol(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    out: list[PatrolAction] = []
    for rule in (crash_loops, gupp, zombies, breaker, stranded, reescalation, nudge_turns):
        out += rule(snap, now)
    return out


def crash_loops(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """An agent that crashed `crash_loop` times within an hour is quarantined, with one escalation."""
    hour_ago = now.timestamp() - 3600
    return [Quarantine(a.name, len(recent)) for a in snap.agents
            if a.status not in ("quarantined", "stopped") and a.role != "triage"  # no triage of triage
            and len(recent := [t for t in a.restarts if t > hour_ago]) >= snap.settings.crash_loop]


def gupp(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """Hooked and running but no progress: nudge at 1x, escalate at 2x, reset at 3x gupp."""
    out: list[PatrolAction] = []
    for a in snap.agents:
        if a.role != "polecat" or not a.hook or not a.turn_running or a.progress_at is None:
            continue
        if a.deferred_until is not None and now < a.deferred_until:
            continue  # the triage judge said wait: give it that time before the next step
        since = a.progress_at.isoformat()
        level = a.gupp_level if a.gupp_since == since else 0  # progress resets the ladder
        idle = (now - a.progress_at).total_seconds()
        due = min(3, int(idle // snap.settings.gupp_s)) if snap.settings.gupp_s > 0 else 0
        if due > level:
            out.append(Gupp(a.name, level + 1, since, idle))
    return out


def zombies(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """Working without a hook, or hooked to a finished bead."""
    out: list[PatrolAction] = []
    for a in snap.agents:
        if a.role not in ("polecat", "refinery"):
            continue
        if a.status in ("working", "starting", "stalled") and a.hook is None and not a.turn_running:
            # (a running turn without a hook is legitimate: a nudge turn, or the tail of a
            # turn after `gt done`; the status is wrong only once no turn runs)
            out.append(StopZombie(a.name, f"{a.status} with nothing on its hook and no turn running"))
        elif a.hook is not None and a.hook_status in ("closed", "failed") and a.role == "polecat":
            out.append(StopZombie(a.name, f"hooked to {a.hook}, which is already {a.hook_status}"))
    return out


def breaker(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """Too many failed dispatches town-wide: stop all dispatch for a while and escalate once."""
    if breaker_open(snap, now):
        return []
    window = now.timestamp() - snap.settings.breaker_s
    failures = sum(1 for a in snap.agents if a.role != "triage" for t in a.restarts if t > window)
    if failures >= snap.settings.breaker_failures:
        return [TripBreaker(now + timedelta(seconds=snap.settings.breaker_s), failures)]
    return []


def stranded(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """Ready work waiting for capacity longer than stranded_s: reported, at most hourly per bead."""
    due = []
    for bead_id, since in snap.stranded:
        last = snap.stranded_reported.get(bead_id)
        if (now - since).total_seconds() >= snap.settings.stranded_s and (
                last is None or (now - last).total_seconds() >= 3600):
            due.append(bead_id)
    return [ReportStranded(tuple(due))] if due else []


def reescalation(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """Unacknowledged escalations go up one level after (count + 1) x reescalate_s, a few times."""
    return [Reescalate(e.id) for e in snap.escalations
            if e.count < snap.settings.max_reescalations and e.severity != "critical"
            and (now - e.routed_at).total_seconds() >= snap.settings.reescalate_s]


def nudge_turns(snap: PatrolSnapshot, now: datetime) -> list[PatrolAction]:
    """An idle agent with an immediate or wait-idle nudge gets a turn to read it."""
    return [NudgeTurn(a.name) for a in snap.agents
            if a.status == "idle" and not a.hook and not a.turn_running and a.has_worktree
            and any(m in ("immediate", "wait-idle") for m in a.nudges)]


def describe(action: PatrolAction) -> dict[str, Any]:
    return {"type": type(action).__name__, **{k: str(v) for k, v in vars(action).items()}}
