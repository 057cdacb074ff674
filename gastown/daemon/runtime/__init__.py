"""Where agent turns run: `local` (host processes), `podman` and `docker` (one container per
town, same code for both engines). All implement the same interface (`Runtime`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gastown.daemon.runtime.base import Runtime, TurnSpec
from gastown.daemon.runtime.local import LocalRuntime


def make_runtime(name: str, town_root: object, **options: Any) -> Runtime:
    """`options` go to ContainerRuntime (e.g. network=, image=); local ignores them."""
    if name == "local":
        return LocalRuntime()
    if name in ("podman", "docker"):
        from gastown.daemon.runtime.container import ContainerRuntime

        return ContainerRuntime(name, Path(str(town_root)), **options)
    raise ValueError(f"unknown runtime '{name}' (local, podman or docker)")


__all__ = ["Runtime", "TurnSpec", "LocalRuntime", "make_runtime"]
