"""`reconcile(snapshot, now) -> actions`: every scheduling rule as a pure function.

No I/O and no clock of its own, so each rule is unit-tested with a fixed `now`. The
alarm loop builds the snapshot from the store, applies the actions in a transaction and
runs their side effects after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

BACKOFF_S = (0, 30, 60, 120, 300, 600)
"""Wait before dispatch attempt n+1, by attempts made so far (the cloud's ladder)."""

BUSY = ("starting", "working", "stalled")


@dataclass(frozen=True)
class ReadyBead:
    id: str
    rig: str | None
    priority: int
    attempts: int
    last_dispatch_at: datetime | None
    adapter: str | None = None  # an explicit --agent for this bead


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
    adapter: str = "scripted"
    backoff_scale: float = 1.0


@dataclass(frozen=True)
class Snapshot:
    ready: tuple[ReadyBead, ...] = ()
    agents: tuple[AgentSnap, ...] = ()
    rigs: dict[str, RigSnap] = field(default_factory=dict)


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


Action = Union[Dispatch, FailBead]


def backoff_due(bead: ReadyBead, rig: RigSnap, now: datetime) -> bool:
    if bead.last_dispatch_at is None or bead.attempts == 0:
        return True
    wait = BACKOFF_S[min(bead.attempts, len(BACKOFF_S) - 1)] * rig.backoff_scale
    return (now - bead.last_dispatch_at).total_seconds() >= wait


def reconcile(snap: Snapshot, now: datetime) -> list[Action]:
    actions: list[Action] = []
    actions += dispatch(snap, now)
    return actions


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
    for a in polecats:
        if a.status not in ("stopped", "quarantined") and a.rig:
            total[a.rig] = total.get(a.rig, 0) + 1
    ready_ids = {b.id for b in snap.ready}
    reserved = {a.last_bead_id: a.name for a in idle.values() if a.last_bead_id and a.last_bead_id in ready_ids}
    for bead in snap.ready:
        rig = snap.rigs.get(bead.rig or "")
        if rig is None:
            continue  # no rig, no dispatch: never a "first rig" default (cloud #657)
        if bead.attempts >= rig.max_attempts:
            out.append(FailBead(bead.id, {
                "code": "dispatch_exhausted",
                "message": f"gave up after {bead.attempts} dispatch attempts",
                "source": "reconciler",
                "details": {"attempts": bead.attempts, "max_attempts": rig.max_attempts},
            }))
            continue
        if not backoff_due(bead, rig, now):
            continue
        if active.get(rig.name, 0) >= rig.max_polecats:
            continue
        agent = _choose(bead, rig, idle, reserved)
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
    kept = set(reserved.values())
    free = [name for name in same_rig if name not in kept]
    choices = free or same_rig
    return choices[0] if choices else None
