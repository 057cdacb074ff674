"""First paint of the dashboard's board on a real daemon whose town holds years of history:
100,000 closed beads, archived (`bead.archive` / `archive.after_days`) or not, plus 1,000
live ones. Measured from launch (connect, subscribe, load) to the board's columns painted,
on a daemon that has opened the town already (one discarded warm-up launch).

Target (issue 17): with the history archived, first paint under 1 s. Prints both cases and
their ratio. In process: no interpreter start or imports (bench_tui_start.py times those).
Last seen (load average 3): archived 341 ms, not archived 232 ms.
Run: .venv/bin/python bench/bench_tui_archive.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import daemon_home  # noqa: E402

CLOSED, LIVE, RUNS = 100_000, 1_000, 5
STAMP = "2024-01-01T00:00:00.000000Z"


def populate(home: Path, archived: bool) -> None:
    """Write the history straight into the town's store (the daemon is not running yet)."""
    from gastown.daemon.store import Store
    from gastown.daemon.town.towns import Towns

    towns = Towns()
    towns.create("big", runtime="local")
    towns.close_all()
    (home / "towns" / "big" / "config.toml").write_text('runtime = "local"\n[rig]\nmax_polecats = 0\n')
    store = Store(home / "towns" / "big" / "town.db", "big")
    store.rig_add("app", "/src/app", "main", "/x")
    done = STAMP if archived else None
    with store.conn:
        store.conn.executemany(
            "INSERT INTO beads(id, type, status, title, rig, created_at, updated_at, closed_at, archived_at) "
            "VALUES (?, 'issue', 'closed', ?, 'app', ?, ?, ?, ?)",
            ((f"big-h{i:06d}", f"old work {i}", STAMP, STAMP, STAMP, done) for i in range(CLOSED)))
        store.conn.executemany(
            "INSERT INTO beads(id, type, status, title, rig, created_at, updated_at) "
            "VALUES (?, 'issue', 'open', ?, 'app', ?, ?)",
            ((f"big-l{i:05d}", f"live work {i}", STAMP, STAMP) for i in range(LIVE)))
    store.close()


async def first_paint() -> float:
    from gastown.client import Client
    from gastown.tui.app import make_app
    from gastown.tui.state import STATUSES

    start = time.perf_counter()
    client = Client(town="big", autostart=False)
    app = make_app(client, connect=lambda timeout: Client(town="big", autostart=False, timeout=timeout),
                   start="board")
    async with app.run_test(size=(160, 48)):
        board = app.page("board")
        while not (app.state.board.loaded and board.is_mounted
                   and board.query_one("#col-open").rows):  # type: ignore[attr-defined]
            await asyncio.sleep(0.002)
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        app.call_after_refresh(lambda: done.set_result(time.perf_counter()))
        painted = await done
        counts = {s: app.state.board.counts.get(s, 0) for s in STATUSES}
    return painted - start, counts  # type: ignore[return-value]


def measure(archived: bool) -> tuple[float, dict[str, int]]:
    home = Path(tempfile.mkdtemp(prefix="gt-bench-"))
    os.environ["GT_HOME"] = str(home)
    try:
        populate(home, archived)
        with daemon_home(home):
            samples, counts = [], {}
            asyncio.run(first_paint())  # warm-up: the daemon opens the town and runs its first tick
            for _ in range(RUNS):
                elapsed, counts = asyncio.run(first_paint())  # type: ignore[misc]
                samples.append(elapsed)
            return statistics.median(samples), counts
    finally:
        shutil.rmtree(home, ignore_errors=True)


def archived_first_paint() -> None:
    live, live_counts = measure(archived=False)
    arch, arch_counts = measure(archived=True)
    print(f"first paint, {CLOSED:,} closed + {LIVE:,} open beads, history NOT archived: median {live * 1000:.0f} ms "
          f"(board counts {live_counts})")
    print(f"first paint, same town with the {CLOSED:,} closed beads archived: median {arch * 1000:.0f} ms "
          f"(board counts {arch_counts}); ratio {live / arch:.2f}x (target < 1000 ms)")


if __name__ == "__main__":
    archived_first_paint()
