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


AGENT_ORDER = (_A.WORKING, _A.STARTING, _A.STALLED, _A.IDLE, _A.FAILED, _A.QUARANTINED, _A.STOPPED)
"""How listings sort agents (`gt agent list`, the dashboard): the busy first, the stopped last."""


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


class EventType(enum.StrEnum):
    """Every `bead_events.event_type` the daemon writes. Clients (feed, TUI, `gt bead events`)
    match on these names, so they are a closed vocabulary: a new event is a new member here
    (`tests/test_vocabulary.py` fails on a literal that is not). A `StrEnum`, so a member is
    its value wherever a string goes (SQL parameters, JSON, f-strings)."""

    # beads
    CREATED = "created"
    FIELDS_UPDATED = "fields_updated"
    STATUS_CHANGED = "status_changed"
    CLOSED = "closed"
    REOPENED = "reopened"
    DEPENDENCY_ADDED = "dependency_added"
    DEPENDENCY_REMOVED = "dependency_removed"
    ARCHIVED = "archived"
    UNARCHIVED = "unarchived"
    IMPORTED = "imported"
    HELD = "held"
    RELEASED = "released"
    RETRY = "retry"
    # rigs and the town
    RIG_ADDED = "rig_added"
    RIG_REMOVED = "rig_removed"
    RIG_PARKED = "rig_parked"
    RIG_UNPARKED = "rig_unparked"
    RIG_SYNCED = "rig_synced"
    TOWN_PAUSED = "town_paused"
    TOWN_RESUMED = "town_resumed"
    # agents and their turns
    HOOKED = "hooked"
    UNHOOKED = "unhooked"
    AGENT_STATUS = "agent_status"
    AGENT_STATUS_MESSAGE = "agent_status_message"
    AGENT_ADAPTER = "agent_adapter"
    AGENT_DONE = "agent_done"
    TURN_EXITED = "turn_exited"
    TURN_RECORDED = "turn_recorded"
    GUPP_DEFERRED = "gupp_deferred"
    STRANDED = "stranded"
    CONTAINER_DIED = "container_died"
    # comms and escalations
    MAIL_SENT = "mail_sent"
    MAIL_DELIVERED = "mail_delivered"
    NUDGED = "nudged"
    ESCALATED = "escalated"
    REESCALATED = "reescalated"
    ESCALATION_RESOLVED = "escalation_resolved"
    # the merge queue, reviews and pull requests
    MERGED = "merged"
    REWORK_REQUESTED = "rework_requested"
    GATES_PASSED = "gates_passed"
    REVIEW_PENDING = "review_pending"
    REVIEW_APPROVED = "review_approved"
    REVIEW_CHANGES_REQUESTED = "review_changes_requested"
    REVIEW_MISSING = "review_missing"
    PR_CREATED = "pr_created"
    PR_UPDATED = "pr_updated"
    PR_STATE = "pr_state"
    PR_REPLY = "pr_reply"
    PR_CONFLICT = "pr_conflict"
    PR_FEEDBACK = "pr_feedback"
    FORGE_ERROR = "forge_error"
    ISSUE_ANNOUNCING = "issue_announcing"
    ISSUE_ANNOUNCED = "issue_announced"
    # convoys, molecules, triage
    CONVOY_CREATED = "convoy_created"
    CONVOY_STARTED = "convoy_started"
    CONVOY_MEMBER_ADDED = "convoy_member_added"
    CONVOY_MEMBER_REMOVED = "convoy_member_removed"
    CONVOY_LANDING = "convoy_landing"
    CONVOY_LANDED = "convoy_landed"
    MOLECULE_POURED = "molecule_poured"
    MOLECULE_STARTED = "molecule_started"
    MOLECULE_RESUMED = "molecule_resumed"
    STEP_RUN_STARTED = "step_run_started"
    STEP_RUN_FINISHED = "step_run_finished"
    STEP_DONE = "step_done"
    WAITING_APPROVAL = "waiting_approval"
    APPROVED = "approved"
    TRIAGE_REQUESTED = "triage_requested"
    TRIAGE_RESOLVED = "triage_resolved"
    TRIAGE_ABANDONED = "triage_abandoned"
    # budgets
    BUDGET_SET = "budget_set"
    BUDGET_CLEARED = "budget_cleared"
    BUDGET_RELEASED = "budget_released"
    BUDGET_WARNING = "budget_warning"
    BUDGET_EXHAUSTED = "budget_exhausted"


class FailureCode(enum.StrEnum):
    """The `code` of a bead's `failure_reason` (and of a merge request's): why work stopped.
    Prompts, the retry policy, the stand-in agent and the dashboard branch on these, so they
    are a closed vocabulary like `EventType`."""

    # a turn that ended without `gt done`
    NEVER_STARTED = "never_started"
    DISPATCH_FAILED = "dispatch_failed"
    DISPATCH_EXHAUSTED = "dispatch_exhausted"
    AGENT_CRASHED = "agent_crashed"
    AGENT_KILLED = "agent_killed"
    RUNNER_LOST = "runner_lost"
    TIMED_OUT = "timed_out"
    EXITED_WITHOUT_DONE = "exited_without_done"
    GUPP_RESET = "gupp_reset"
    TRIAGE_RESTART = "triage_restart"
    # stopped by an operator or a hold
    STOPPED = "stopped"
    RESET = "reset"
    HELD = "held"
    PAUSED = "paused"
    QUARANTINED = "quarantined"
    # the agent's own `gt done --status`
    DEFERRED = "deferred"
    ESCALATED = "escalated"
    # the merge queue
    CONFLICT = "conflict"
    GATE_FAILED = "gate_failed"
    GATE_TIMEOUT = "gate_timeout"
    PUSH_REJECTED = "push_rejected"
    PUSH_UNVERIFIED = "push_unverified"
    HEAD_MOVED = "head_moved"
    INFRA = "infra"
    CHANGES_REQUESTED = "changes_requested"
    REVIEW_FAILED = "review_failed"
    REWORK_EXHAUSTED = "rework_exhausted"
    # pull requests and the forge
    PR_CLOSED = "pr_closed"
    FORGE_ERROR = "forge_error"
    FORGE_RATE_LIMITED = "forge_rate_limited"
    FORGE_UNAUTHORIZED = "forge_unauthorized"
    FORGE_FORBIDDEN = "forge_forbidden"
    FORGE_NOT_FOUND = "forge_not_found"
    FORGE_CONFLICT = "forge_conflict"
    FORGE_REJECTED = "forge_rejected"
    # molecules
    STEP_FAILED = "step_failed"
    RUN_FAILED = "run_failed"
