"""Shared benchmark plumbing: a throwaway GT_HOME with a running daemon."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator
from contextlib import contextmanager

VENV_BIN = Path(sys.executable).parent


@contextmanager
def daemon_home(home: Path | None = None, runtime: str = "local") -> Iterator[Path]:
    """Start a daemon on `home` (default: a fresh temp dir, removed afterwards). Towns it
    creates default to `runtime` (the runtime a benchmark names; `local` unless it says
    otherwise) and to the scripted stand-in agent (GT_DEFAULT_AGENT, unless set); every town is
    deleted at the end, so no container outlives the run."""
    own = home is None
    home = home or Path(tempfile.mkdtemp(prefix="gt-bench-"))
    os.environ["GT_HOME"] = str(home)
    os.environ["GT_RUNTIME"] = runtime
    os.environ.setdefault("GT_DEFAULT_AGENT", "scripted")  # new towns never pick a real CLI by themselves
    os.environ.pop("GT_RUNTIME_DIR", None)
    os.environ.pop("GT_TOWN", None)
    proc = subprocess.Popen([sys.executable, "-m", "gastown.daemon"], start_new_session=True)
    from gastown import paths

    sock = paths.socket_path()
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"bench: the daemon did not start (exit {proc.poll()}); see {paths.log_path()}")
        time.sleep(0.02)
    try:
        yield home
    finally:
        _delete_towns()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if own:
            shutil.rmtree(home, ignore_errors=True)


def _delete_towns() -> None:
    """Remove every town of this bench home (and with it any town container)."""
    from gastown.client import Client

    try:
        with Client(autostart=False, timeout=120) as c:
            for town in c.call("town.list", _town=False):
                c.call("town.delete", name=town["name"], _town=False)
    except Exception as exc:  # noqa: BLE001 - report, never hide: a leftover container is a bug
        print(f"bench: cleaning up towns failed: {exc}", file=sys.stderr)


def wait_until(pred: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `pred` until truthy; a clear error instead of waiting forever."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"bench: timed out after {timeout:.0f} s waiting for {what}")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out
