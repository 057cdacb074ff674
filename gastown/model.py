"""Closed vocabularies of the domain: bead types and statuses, dependency kinds, agent
states and roles, with the transitions each state machine allows.

Stdlib only. Both the daemon and the clients use these names; the store enforces them
with CHECK constraints built from the same enums.
"""

from __future__ import annotations

import enum


class BeadType(str, enum.Enum):
    ISSUE = "issue"
    MESSAGE = "message"
    MERGE_REQUEST = "merge_request"
    CONVOY = "convoy"
    ESCALATION = "escalation"
    MOLECULE = "molecule"
    AGENT = "agent"


class BeadStatus(str, enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    IN_REVIEW = "in_review"
    CLOSED = "closed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (BeadStatus.CLOSED, BeadStatus.FAILED)


_B = BeadStatus
BEAD_TRANSITIONS: dict[BeadStatus, frozenset[BeadStatus]] = {
    _B.OPEN: frozenset({_B.IN_PROGRESS, _B.IN_REVIEW, _B.CLOSED, _B.FAILED}),
    _B.IN_PROGRESS: frozenset({_B.OPEN, _B.IN_REVIEW, _B.CLOSED, _B.FAILED}),
    _B.IN_REVIEW: frozenset({_B.OPEN, _B.IN_PROGRESS, _B.CLOSED, _B.FAILED}),
    # Terminal statuses never move on their own; `reopen` (explicit, with a reason) is
    # the only way out and goes through the same transition function with reopen=True.
    _B.CLOSED: frozenset(),
    _B.FAILED: frozenset(),
}


def bead_transition_allowed(old: BeadStatus, new: BeadStatus, *, reopen: bool = False) -> bool:
    if old == new:
        return True
    if reopen:
        return old.terminal and new == BeadStatus.OPEN
    return new in BEAD_TRANSITIONS[old]


class DepType(str, enum.Enum):
    """A row (A, B, type) means A depends on B."""

    BLOCKS = "blocks"  # A waits until B is closed
    PARENT_CHILD = "parent-child"  # A is a child of B (B is the epic)
    TRACKS = "tracks"  # A is tracked by B (convoy membership; MR -> source); never blocks


class AgentStatus(str, enum.Enum):
    STARTING = "starting"
    WORKING = "working"
    IDLE = "idle"
    STALLED = "stalled"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    STOPPED = "stopped"


_A = AgentStatus
AGENT_TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    _A.IDLE: frozenset({_A.STARTING, _A.STOPPED, _A.QUARANTINED}),
    _A.STARTING: frozenset({_A.WORKING, _A.IDLE, _A.FAILED, _A.STOPPED}),
    _A.WORKING: frozenset({_A.IDLE, _A.STALLED, _A.FAILED, _A.STOPPED}),
    _A.STALLED: frozenset({_A.WORKING, _A.IDLE, _A.FAILED, _A.STOPPED}),
    _A.FAILED: frozenset({_A.IDLE, _A.STARTING, _A.QUARANTINED, _A.STOPPED}),
    _A.QUARANTINED: frozenset({_A.IDLE, _A.STOPPED}),
    _A.STOPPED: frozenset({_A.IDLE}),
}


def agent_transition_allowed(old: AgentStatus, new: AgentStatus) -> bool:
    return old == new or new in AGENT_TRANSITIONS[old]


class Role(str, enum.Enum):
    MAYOR = "mayor"
    POLECAT = "polecat"
    REFINERY = "refinery"
    TRIAGE = "triage"


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]
