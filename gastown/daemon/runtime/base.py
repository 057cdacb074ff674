"""The runtime interface: start a detached turn, ask whether it runs, stop it.

A turn always runs under `gastown.runner`, which owns the PTY and writes `status.json`
and `output.log` into the turn directory; runtimes differ only in how they launch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class TurnSpec:
    turn_dir: Path
    argv: list[str]
    cwd: Path
    env: dict[str, str | None] = field(default_factory=dict)
    timeout: float | None = None


class Runtime(Protocol):
    name: str

    def check(self) -> None:
        """Raise RpcError(EXTERNAL) with a one-line reason when the runtime cannot work here."""

    def start_turn(self, spec: TurnSpec) -> int:
        """Start the turn detached; return the runner pid once its status file exists."""

    def is_running(self, turn_dir: Path) -> bool: ...

    def stop_turn(self, turn_dir: Path, grace: float = 5.0) -> None: ...
