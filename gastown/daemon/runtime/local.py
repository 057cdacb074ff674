"""The `local` runtime: turns run on the host, in their worktree, under a detached runner
(its own session, so a daemon restart or SIGKILL leaves them running)."""

from __future__ import annotations

from pathlib import Path

from gastown import runner
from gastown.daemon.runtime.base import TurnSpec, WithoutContainer


class LocalRuntime(WithoutContainer):
    name = "local"

    def check(self) -> None:
        return None

    def start_turn(self, spec: TurnSpec) -> int:
        environ = {k: v for k, v in spec.env.items() if v is not None}  # complete: never env.json
        return runner.spawn_detached(spec.turn_dir, spec.argv, spec.cwd, timeout=spec.timeout, environ=environ)

    def is_running(self, turn_dir: Path) -> bool:
        return runner.is_running(turn_dir)

    def stop_turn(self, turn_dir: Path, grace: float = 5.0) -> None:
        runner.stop(turn_dir, grace=grace)
