"""Where agent turns run: `local` (host processes) here; podman and docker implement the
same interface (`Runtime`)."""

from __future__ import annotations

from gastown.daemon.runtime.base import Runtime, TurnSpec
from gastown.daemon.runtime.local import LocalRuntime


def make_runtime(name: str, town_root: object) -> Runtime:
    if name == "local":
        return LocalRuntime()
    raise ValueError(f"runtime '{name}' is not available in this build (use local)")


__all__ = ["Runtime", "TurnSpec", "LocalRuntime", "make_runtime"]
