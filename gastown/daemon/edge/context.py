"""What a handler can reach: the daemon's shared services and the calling connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown.daemon.edge.server import Connection, Daemon


@dataclass
class Ctx:
    daemon: "Daemon"
    conn: "Connection"
    actor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
