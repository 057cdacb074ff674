"""What an adapter knows about one agent CLI: the command line of a turn, its
environment and config files, how to resume its native session, and how to read the
session id and token usage from what the turn printed."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown import transcript as tr
from gastown.protocol import ErrorCode, RpcError

REPO_CACHE = Path(__file__).resolve().parents[3] / ".cache" / "agents"


@dataclass
class TurnContext:
    agent: str
    role: str
    town: str
    worktree: Path
    home: Path  # the agent's own HOME / config root, kept across turns
    prompt: str
    system_prompt: str = ""
    session_id: str | None = None
    model: str = ""
    base_url: str = ""
    api_key: str = ""
    bead: dict[str, Any] = field(default_factory=dict)


@dataclass
class TurnResult:
    session_id: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0  # of tokens_in, read from a prompt cache (billed at the cached rate)


class Adapter:
    name = "base"
    binary: str | None = None  # executable name
    package = ""  # how to install it, for the error message
    # What the CLI prints when the session it was told to resume does not exist (a turn killed
    # before the CLI saved it, a wiped home): resuming it again would fail the same way forever.
    lost_session_markers: tuple[str, ...] = ()

    def resolve_binary(self) -> str:
        """The CLI's path: GT_AGENT_CACHE/<name>, the repo's .cache/agents/<name>, then PATH."""
        assert self.binary is not None
        for root in (os.environ.get("GT_AGENT_CACHE"), str(REPO_CACHE)):
            if root:
                cand = Path(root) / self.name / "node_modules" / ".bin" / self.binary
                if cand.exists():
                    return str(cand)
        found = shutil.which(self.binary)
        if found:
            return found
        raise RpcError(ErrorCode.EXTERNAL,
                       f"agent CLI '{self.binary}' is not installed (scripts/install-agents.sh {self.name}, "
                       f"or install {self.package})")

    def check(self) -> None:
        if self.binary is not None:
            self.resolve_binary()

    def prepare(self, ctx: TurnContext) -> None:
        """Write config files into ctx.home before the turn (default: nothing)."""

    def command(self, ctx: TurnContext) -> list[str]:
        raise NotImplementedError

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        return {"HOME": str(ctx.home)}

    def reply_text(self, text: str) -> str:
        """What the agent said to the human so far, from its raw output (pure: it is called
        repeatedly while a mayor reply streams). Default: nothing."""
        return ""

    def session_lost(self, text: str) -> bool:
        """The turn failed because its session could not be resumed: the next turn starts a
        fresh session (with the full briefing) instead of repeating the failure."""
        return any(marker in text for marker in self.lost_session_markers)

    def parse_output(self, text: str, home: Path) -> TurnResult:
        """Session id and this turn's token usage from the turn's raw PTY output.

        `home` is the agent's persistent config root, for CLIs that report cumulative
        usage and need the previous total to compute this turn's share."""
        return TurnResult()

    def transcript(self, text: str) -> list[tr.Event]:
        """The turn's raw PTY output as common transcript events (pure: it is called on a
        growing output while the turn runs). Default: every printed line as `output`."""
        from gastown.daemon.adapters.common import plain_lines
        return [tr.Event(tr.Kind.OUTPUT.value, text=ln) for ln in plain_lines(text) if ln.strip()]
