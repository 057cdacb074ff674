"""`reconcile(snapshot, now) -> actions`: every scheduling rule as a pure function.

No I/O and no clock of its own, so each rule is unit-tested with a fixed `now`. The
alarm loop builds the snapshot from the store, applies the actions in a transaction and
runs their side effects after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from gastown.model import FailureCode

BACKOFF_S = (0, 30, 60, 120, 300, 600)
"""Wait before dispatch attempt n+1, by attempts made so far (the cloud's ladder)."""

BUSY = ("starting", "working", "stalled")
REWORK_WAIT_S = 30.0
"""Rework waits this long for the polecat that did the work while its previous turn is
still exiting (a CLI takes a few seconds after `gt done`); then another polecat takes it,
continuing on the same branch (gastown.daemon.alarm.turns.TurnStarter.prior_work)."""


@dataclass(frozen=True)
class ReadyBead:
    id: str
    rig: str | None
    priority: int
    attempts: int
    last_dispatch_at: datetime | None
    adapter: str | None = None  # an explicit --agent for this bead
    since: datetime | None = None  # when it last changed (ready at least since then)
    predecessors: tuple[str, ...] = ()  # its closed blockers in the same convoy (serial convoys)
    prefer: str | None = None  # a PR follow-up goes to the polecat that opened the PR (its branch, its context)


@dataclass(frozen=True)
class AgentSnap:
    name: str
    role: str
    rig: str | None
    status: str
    hook: str | None
    last_bead_id: str | None = None


@dataclass(frozen=True)
class RigSnap:
    name: str
    max_polecats: int = 4
    max_attempts: int = 5
    adapter: str = "scripted"  # '' when the town has no agent chosen
    backoff_scale: float = 1.0
    parked: bool = False  # `gt rig park`: no new dispatch and no merges


@dataclass(frozen=True)
class MRSnap:
    id: str
    rig: str
    target: str
    status: str
    priority: int
    created_at: str
    source_status: str
    pr: bool = False  # pushed for a pull request: poll instead of merging
    not_before: datetime | None = None  # a forge refused or rate-limited it: retry after this
    looked_at: datetime | None = None  # when this daemon last took it up (a merge step or a PR poll)


@dataclass(frozen=True)
class Snapshot:
    ready: tuple[ReadyBead, ...] = ()
    agents: tuple[AgentSnap, ...] = ()
    rigs: dict[str, RigSnap] = field(default_factory=dict)
    mrs: tuple[MRSnap, ...] = ()
    merging: frozenset[str] = frozenset()  # MRs whose merge is running in this daemon now
    paused: bool = False  # `gt town pause`: nothing is dispatched or merged until resume
    budget_held: dict[str, str] = field(default_factory=dict)  # ready bead -> the exhausted budget holding it
    dispatch_stopped: bool = False  # the patrol's crash-loop breaker is open: no new turns
    pr_poll_s: float = 0.0  # `refinery.pr_poll_seconds`: between two looks at one open pull request


@dataclass(frozen=True)
class Dispatch:
    bead_id: str
    rig: str
    agent: str | None  # None: create a new polecat
    adapter: str


@dataclass(frozen=True)
class FailBead:
    bead_id: str
    failure: dict[str, Any]


@dataclass(frozen=True)
class ProcessMR:
    mr_id: str


@dataclass(frozen=True)
class PollPR:
    mr_id: str


@dataclass(frozen=True)
class CloseMR:
    mr_id: str
    reason: str


Action = Union[Dispatch, FailBead, ProcessMR, PollPR, CloseMR]


def backoff_due(bead: ReadyBead, rig: RigSnap, now: datetime) -> bool:
    if bead.last_dispatch_at is None or bead.attempts == 0:
        return True
    wait = BACKOFF_S[min(bead.attempts, len(BACKOFF_S) - 1)] * rig.backoff_scale
    return (now - bead.last_dispatch_at).total_seconds() >= wait


def reconcile(snap: Snapshot, now: datetime) -> list[Action]:
    actions: list[Action] = []
    if snap.paused:
        return actions
    actions += [a for a in dispatch(snap, now) if not (snap.dispatch_stopped and isinstance(a, Dispatch))]
    actions += merge_queue(snap, now)
    return actions


def effective_status(agent: dict[str, Any]) -> str:
    """An idle agent whose last turn has not ended yet is not free for new work."""
    if agent["status"] == "idle" and agent["turn_dir"] and not agent["turn_ended_at"]:
        return "working"
    return str(agent["status"])


def stranded(snap: Snapshot, actions: list[Action], now: datetime) -> list[tuple[str, datetime]]:
    """Ready beads that could start now (known rig, backoff over) but got no polecat this tick,
    with the time they became ready: the patrol reports those that wait too long."""
    dispatched = {a.bead_id for a in actions if isinstance(a, Dispatch)}
    return [(b.id, b.since) for b in snap.ready
            if b.id not in dispatched and b.since and b.rig in snap.rigs
            and backoff_due(b, snap.rigs[b.rig or ""], now)]


def merge_queue(snap: Snapshot, now: datetime | None = None) -> list[Action]:
    """At most one merge in flight per rig target branch, highest priority then oldest
    first. An in-progress MR nobody is merging (the daemon restarted mid-merge) is taken
    up again; an MR whose source is already closed or failed is never merged (gastown #4167).
    An open pull request does not hold its lane (many PRs in flight per rig): it is polled
    on its own. An MR a forge turned away waits until its `not_before`."""
    out: list[Action] = []
    lanes: dict[tuple[str, str], list[MRSnap]] = {}
    for mr in snap.mrs:
        if mr.status in ("open", "in_progress") and mr.source_status in ("closed", "failed"):
            out.append(CloseMR(mr.id, f"source bead is already {mr.source_status}"))
            continue
        lanes.setdefault((mr.rig, mr.target), []).append(mr)
    for (rig_name, _), lane in lanes.items():
        rig = snap.rigs.get(rig_name)
        if rig is not None and rig.parked:
            continue  # a parked rig merges nothing, not even a merge the daemon was in the middle of
        for m in lane:
            if m.status == "in_progress" and m.pr and m.id not in snap.merging and _due(m, now) \
                    and _poll_due(m, snap.pr_poll_s, now):
                out.append(PollPR(m.id))
        busy = [m for m in lane if m.status == "in_progress" and not m.pr]
        if busy:
            for m in busy:
                if m.id not in snap.merging and _due(m, now):
                    out.append(ProcessMR(m.id))
            continue
        queued = sorted((m for m in lane if m.status == "open"), key=lambda m: (m.priority, m.created_at, m.id))
        if queued:
            out.append(ProcessMR(queued[0].id))
    return out


def _due(mr: MRSnap, now: datetime | None) -> bool:
    return mr.not_before is None or now is None or now >= mr.not_before


def _poll_due(mr: MRSnap, every_s: float, now: datetime | None) -> bool:
    """An open pull request is looked at again `pr_poll_s` after this daemon last took it up."""
    return mr.looked_at is None or now is None or (now - mr.looked_at).total_seconds() >= every_s


def dispatch(snap: Snapshot, now: datetime) -> list[Action]:
    """Ready beads with a rig get an idle polecat, up to the rig's max_polecats.

    Assignment happens here, when the bead is ready, not at sling time. The polecat that
    last worked a bead is preferred (it keeps its worktree and session).
    """
    out: list[Action] = []
    polecats = [a for a in snap.agents if a.role == "polecat"]
    idle = {a.name: a for a in polecats if a.status == "idle" and a.hook is None}
    active: dict[str, int] = {}
    for a in polecats:
        if a.status != "stopped" and a.rig:
            active[a.rig] = active.get(a.rig, 0) + (a.status in BUSY)
    total: dict[str, int] = {}
    for a in polecats:  # a quarantined polecat keeps its slot: a crash loop must not spawn fresh ones
        if a.status != "stopped" and a.rig:
            total[a.rig] = total.get(a.rig, 0) + 1
    ready_ids = {b.id for b in snap.ready}
    reserved = {a.last_bead_id: a.name for a in idle.values() if a.last_bead_id and a.last_bead_id in ready_ids}
    finishing = {a.last_bead_id for a in polecats  # handed in, its turn not yet exited
                 if a.hook is None and a.status in BUSY and a.last_bead_id in ready_ids}
    for bead in snap.ready:
        rig = snap.rigs.get(bead.rig or "")
        if rig is None or rig.parked:
            continue  # no rig, no dispatch: never a "first rig" default (cloud #657)
        if bead.attempts >= rig.max_attempts:
            out.append(FailBead(bead.id, {
                "code": FailureCode.DISPATCH_EXHAUSTED,
                "message": f"gave up after {bead.attempts} dispatch attempts",
                "source": "reconciler",
                "details": {"attempts": bead.attempts, "max_attempts": rig.max_attempts},
            }))
            continue
        if not backoff_due(bead, rig, now):
            continue
        if bead.id in snap.budget_held:
            continue
        if active.get(rig.name, 0) >= rig.max_polecats:
            continue
        if bead.id in finishing and bead.since and (now - bead.since).total_seconds() < REWORK_WAIT_S:
            continue  # rework goes back to the polecat that did the work once its turn exits
        if not (bead.adapter or rig.adapter):
            continue  # no agent chosen for this town: sling says so; nothing is dispatched to crash
        owner = next((a for a in polecats if a.name == bead.prefer and a.status != "stopped"), None)
        if owner is not None and owner.name not in idle:
            continue  # a PR follow-up waits for the polecat whose branch and context it needs
        agent = owner.name if owner is not None else _choose(bead, rig, idle, reserved)
        if agent is None and total.get(rig.name, 0) >= rig.max_polecats:
            continue
        if agent is not None:
            del idle[agent]
        else:
            total[rig.name] = total.get(rig.name, 0) + 1
        active[rig.name] = active.get(rig.name, 0) + 1
        out.append(Dispatch(bead.id, rig.name, agent, bead.adapter or rig.adapter))
    return out


def _choose(bead: ReadyBead, rig: RigSnap, idle: dict[str, AgentSnap], reserved: dict[str, str]) -> str | None:
    """The polecat that last worked this bead; else an idle one not kept for another ready
    bead (it keeps its worktree and session for that one); else any idle one on the rig."""
    same_rig = [a.name for a in idle.values() if a.rig == rig.name]
    mine = reserved.get(bead.id)
    if mine in same_rig:
        return mine
    for a in idle.values():  # a serial convoy keeps the agent that did the previous step
        if a.rig == rig.name and a.last_bead_id in bead.predecessors and a.name not in reserved.values():
            return a.name
    kept = set(reserved.values())
    free = [name for name in same_rig if name not in kept]
    choices = free or same_rig
    return choices[0] if choices else None
