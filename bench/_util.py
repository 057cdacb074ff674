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
def daemon_home(home: Path | None = None) -> Iterator[Path]:
    """Start a daemon on `home` (default: a fresh temp dir, removed afterwards)."""
    own = home is None
    home = home or Path(tempfile.mkdtemp(prefix="gt-bench-"))
    os.environ["GT_HOME"] = str(home)
    proc = subprocess.Popen([sys.executable, "-m", "gastown.daemon"], start_new_session=True)
    sock = home / "run" / "gt.sock"
    while not sock.exists():
        time.sleep(0.02)
    try:
        yield home
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        if own:
            shutil.rmtree(home, ignore_errors=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out
