"""Messages: workers and widgets post them up to the app; the app pushes data down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

Row = dict[str, Any]


class EventsArrived(Message):
    """The event worker put events in the app's inbox. At most one is pending at a time:
    the handler drains the whole inbox, so a burst becomes one batch."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EventsArrived)


@dataclass
class StreamUp(Message):
    """Subscribed (again): `seq` is the daemon's last event; `first` is the initial connect."""

    seq: int
    first: bool


@dataclass
class StreamDown(Message):
    """The event stream broke; the worker retries in `retry_in` seconds."""

    error: str
    retry_in: float


@dataclass
class Loaded(Message):
    """A snapshot arrived from a thread worker: `what` is town, board, agents, mq or beads."""

    what: str
    data: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadFailed(Message):
    what: str
    error: str


@dataclass
class OpenBead(Message):
    bead_id: str


@dataclass
class OpenAgent(Message):
    name: str


@dataclass
class OpenMergeRequest(Message):
    mr_id: str


@dataclass
class FilterChanged(Message):
    """The board's filter changed; rig and type are server-side (reload), text is local."""

    rig: str | None
    type: str | None
    text: str
    convoy: str | None = None


@dataclass
class LoadMore(Message):
    """The cursor reached the end of a truncated column."""

    status: str


@dataclass
class OpenConvoy(Message):
    convoy_id: str


@dataclass
class OpenMail(Message):
    mail_id: str


@dataclass
class AckEscalation(Message):
    escalation_id: str


@dataclass
class ApproveStep(Message):
    """A human approves a molecule's approval step from its bead drawer."""

    bead_id: str


@dataclass
class MayorSend(Message):
    """The chat page's input was submitted."""

    message: str


@dataclass
class MayorReply(Message):
    """The mayor's answer so far (the whole text each time), or a step of sending, from the
    app's mayor worker."""

    text: str
    done: bool
    entry: int
    """Which `TownState.chat` row (the human's message) this is about."""
    error: str | None = None
    tools: list[str] = field(default_factory=list)
    """The Mayor's latest tool calls, rendered (`▶ gt sling …  → exit 0`)."""
    waiting: bool = False
    """Not sent yet: the Mayor is answering someone else."""
    sent_id: str | None = None
    """Sent: the message bead's id (the reply entry starts now)."""
