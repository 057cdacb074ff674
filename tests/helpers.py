"""Helpers shared by the tests: polling with the daemon's log on timeout, `gt --json`
calls, a fixed clock for store unit tests, and error-code capture."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from gastown import paths
from gastown.protocol import RpcError
from tests.conftest import run_gt


def wait_for(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `pred()` is truthy; on timeout fail with the tail of the daemon's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    log = paths.log_path().read_text() if paths.log_path().exists() else ""
    raise AssertionError(f"timed out ({timeout:.0f} s) waiting for {what}; daemon log:\n{log[-4000:]}")


def gtj(*args: str) -> list[dict[str, Any]]:
    """Run `gt ARGS --json` and parse its lines."""
    res = run_gt(*args, "--json", check=True)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def bead(bead_id: str) -> dict[str, Any]:
    return gtj("bead", "show", bead_id)[0]


def agent(name: str = "toast") -> dict[str, Any]:
    return gtj("agent", "show", name)[0]


class Clock:
    """An injectable clock that moves one second per reading."""

    def __init__(self, start: datetime | None = None, step: float = 1.0) -> None:
        self.t = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.step = timedelta(seconds=step)

    def __call__(self) -> datetime:
        self.t += self.step
        return self.t

    def advance(self, **kw: float) -> None:
        """Jump ahead, e.g. advance(minutes=31)."""
        self.t += timedelta(**kw)


def code_of(fn: Callable[..., Any], *a: Any, **kw: Any) -> int:
    """The RpcError code `fn(*a, **kw)` raises (fails if it raises nothing)."""
    with pytest.raises(RpcError) as exc:
        fn(*a, **kw)
    return exc.value.code


def turn_env(turn_dir: str | Path, proc_root: str = "") -> dict[str, str]:
    """A running turn's environment, read from its runner's /proc/<pid>/environ (the token is
    never on disk). `proc_root`: a container's root as seen from the host (/proc/<init>/root)."""
    from gastown import runner

    st = runner.read_status(Path(turn_dir)) or {}
    raw = Path(f"{proc_root}/proc/{st['runner_pid']}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
