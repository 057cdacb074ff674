"""What a handler can reach: the daemon's shared services and the calling connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.daemon.edge.server import Connection, Daemon


@dataclass
class Ctx:
    daemon: "Daemon"
    conn: "Connection"
    actor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def agent(self) -> str:
        """The calling agent's name, for the agents' tools; a human's connection is refused."""
        if not self.conn.agent:
            raise RpcError(ErrorCode.FORBIDDEN, "this is an agent tool: run it from an agent turn (no agent token)")
        return self.conn.agent
