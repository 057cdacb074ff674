"""The runtime interface: start a detached turn, ask whether it runs, stop it.

A turn always runs under `gastown.runner`, which owns the PTY and writes `status.json`
and `output.log` into the turn directory; runtimes differ only in how they launch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gastown.daemon.vcs.gates import GateRunner


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

    # A runtime may keep one container per town: the loop restarts, sleeps and removes it
    # through these, and never asks a runtime what it is.
    has_container: bool
    restart_count: int  # how often its container was found dead and started again

    def container_alive(self) -> bool:
        """Whether the town's container runs (an engine call: only when `has_container`)."""

    def stop_container(self, timeout: float = 5.0) -> None:
        """Stop the idle town's container (the next turn starts it again)."""

    def remove(self, town: str | None = None) -> None:
        """Remove what the town's runtime owns (its container), when the town is deleted."""

    def gate_runner(self) -> GateRunner | None:
        """Where this runtime runs a rig's gates itself (inside the container); None: on the host."""


class WithoutContainer:
    """The container half of `Runtime` for runtimes that keep none (local, the tests' fake)."""
    has_container = False
    restart_count = 0

    def container_alive(self) -> bool:
        return False

    def stop_container(self, timeout: float = 5.0) -> None:
        return None

    def remove(self, town: str | None = None) -> None:
        return None

    def gate_runner(self) -> GateRunner | None:
        return None
