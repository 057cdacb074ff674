"""`gt tui` start-up as a person sees it: from launching the command in a terminal to the
board's cards on the screen, against a bare Textual app on the same machine in the same run.

The town is bench_tui_archive's: 100,000 archived closed beads plus 1,000 open ones, on a
real daemon that has opened the town already. Each launch runs in its own pseudo-terminal
(160x48); its output goes through a terminal emulator (pyte) until the screen shows the
first open card's title (`gt tui --screen board`) or the bare app's text. Interpreter start,
imports, connecting and loading are all inside the time. The difference between the two is
ours. Launches alternate (gt, bare, gt, bare ...) so a burst of load elsewhere hits both.
With `--baseline DIR` (another checkout of the repository, e.g. `git worktree add DIR <commit>`)
its `gt tui` joins the rotation, run by this interpreter with DIR first on the path.

Target (issue 17): first paint under 1 s.
Run: .venv/bin/python bench/bench_tui_start.py [--baseline DIR]

Last seen (2 cores shared with other agents, load average 3): median 395 ms, 320 ms CPU;
the bare app 204 ms, 158 ms CPU (ours +192 ms wall, +162 ms CPU); the commit before this
work 722 ms, 503 ms CPU (this tree 1.83x faster wall, 1.57x less CPU).
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import daemon_home  # noqa: E402
from bench_tui_archive import populate  # noqa: E402

COLS, ROWS, RUNS = 160, 48, 7
BARE = """
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App[None]):
    def compose(self):
        yield Header()
        yield Static("bare textual is up")
        yield Footer()

Bare().run()
"""


def launch(argv: list[str], marker: str, timeout: float = 30.0, path: str | None = None) -> tuple[float, float]:
    """Seconds from spawning `argv` on a fresh pty until `marker` is on its screen, and the
    CPU seconds the process used (stopped as soon as the marker shows: the CPU is the start-up's,
    and unlike the wall time it hardly depends on what else the machine runs)."""
    import pyte

    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
    if path:
        env["PYTHONPATH"] = path
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                            cwd=tempfile.gettempdir())  # not the checkout: `-m` would put it first on the path
    os.close(slave)
    try:
        deadline = start + timeout
        while True:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    stream.feed(os.read(master, 1 << 16))
                except OSError:
                    pass
                if any(marker in line for line in screen.display):
                    wall = time.perf_counter() - start
                    os.killpg(proc.pid, signal.SIGKILL)
                    _, _, usage = os.wait4(proc.pid, 0)
                    proc.returncode = -signal.SIGKILL
                    return wall, usage.ru_utime + usage.ru_stime
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"bench: {argv[-3:]} never showed {marker!r} (exit {proc.poll()}):\n"
                                 + "\n".join(screen.display))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def summary(label: str, samples: list[tuple[float, float]]) -> tuple[float, float]:
    wall = statistics.median(w for w, _ in samples)
    cpu = statistics.median(c for _, c in samples)
    print(f"{label}: median {wall * 1000:.0f} ms (min {min(w for w, _ in samples) * 1000:.0f}, "
          f"max {max(w for w, _ in samples) * 1000:.0f}), CPU {cpu * 1000:.0f} ms")
    return wall, cpu


def main() -> None:
    baseline = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    home = Path(tempfile.mkdtemp(prefix="gt-bench-"))
    os.environ["GT_HOME"] = str(home)
    gt = [sys.executable, "-m", "gastown.cli", "tui", "--town", "big", "--screen", "board"]
    bare = [sys.executable, "-c", BARE]
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    before: list[tuple[float, float]] = []
    load = os.getloadavg()[0]
    try:
        populate(home, archived=True)
        with daemon_home(home):
            launch(gt, "live work 0")  # warm-up: the daemon opens the town; the OS caches the files
            launch(bare, "bare textual is up")
            if baseline:
                launch(gt, "live work 0", path=baseline)
            for _ in range(RUNS):
                ours.append(launch(gt, "live work 0"))
                theirs.append(launch(bare, "bare textual is up"))
                if baseline:
                    before.append(launch(gt, "live work 0", path=baseline))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"launch to first paint over {RUNS} runs each, alternating; load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")
    o, oc = summary("  gt tui --screen board, 100,000 archived + 1,000 open beads (target < 1000 ms)", ours)
    t, tc = summary("  bare Textual app (header, one line, footer)", theirs)
    print(f"  ours over bare: +{(o - t) * 1000:.0f} ms wall ({o / t:.2f}x), +{(oc - tc) * 1000:.0f} ms CPU")
    if before:
        b, bc = summary(f"  gt tui from {baseline}", before)
        print(f"  this tree against it: {b / o:.2f}x faster wall, {bc / oc:.2f}x less CPU")


if __name__ == "__main__":
    main()
