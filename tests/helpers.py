"""Helpers shared by the tests: polling with the daemon's log on timeout, waiting on the
loop's ticks, `gt --json` calls, a fixed clock for store unit tests, and error-code capture."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from gastown import paths
from gastown.client import Client
from gastown.protocol import Method, RpcError
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


QUICK_IDLE_S = "0.3"
"""loop.idle_seconds for tests that wait on ticks: an idle loop would tick every 30 s."""


def ticks(town: str | None = None) -> int:
    """Ticks the town's loop has finished (town.show's `loop`)."""
    with Client(autostart=False) as c:
        loop = c.call(Method.TOWN_SHOW, town=town)["loop"]
    assert loop is not None, "the town has no loop running"
    return int(loop["ticks"])


def wait_ticks(n: int, town: str | None = None, timeout: float = 60.0) -> None:
    """Wait until the loop has finished `n` whole ticks that began after this call (plus the
    one possibly under way now). "Nothing more happens" is then checked against the ticks
    that would have done it, not against a guess of wall-clock time. An idle loop ticks every
    loop.idle_seconds: tests set it to QUICK_IDLE_S first."""
    first = ticks(town)
    wait_for(lambda: ticks(town) >= first + n + 1, timeout, f"{n} more ticks of the loop")


def procs_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (e.g. a unique `sleep` duration)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


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
