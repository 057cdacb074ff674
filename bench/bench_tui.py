"""Dashboard budgets, measured (not asserted in tests): prints numbers.

1. A board of 10,000 beads painted (key `b` to rendered columns): target < 1 s.
2. Keypress latency while 1,000 events/s arrive (down, down, down, right, ...): key to its
   action run (handled: the cursor moved, or the next column focused) and key to the screen
   painted after it; target p95 < 100 ms. Also the share of a core the UI thread
   spends (its CPU time over the wall time): on a shared machine the UI thread gets a slice of
   a core, and once its work outgrows the slice keys queue behind paints, so this share is
   what decides the latency under load.
3. First paint of the board on a real daemon whose town holds 100,000 archived closed beads
   (plus a live board): target < 1 s (bench_tui_archive.py; bench_tui_start.py times the
   real `gt tui` command from launch).

With `--baseline DIR` (another checkout, e.g. `git worktree add DIR <commit>`) 1 and 2 run in
fresh processes for this tree and DIR alternately, ROUNDS times each, and print both.

Run: .venv/bin/python bench/bench_tui.py [--skip-archive] [--baseline DIR]

Last seen (2 cores shared with other agents, load average 3, 3 rounds against the commit
before the flood work): board 176 ms median (before 167); key to paint p95 78 ms (before
130), key to action p95 2 ms (before 7); UI thread busy 24% of a core (before 39%). At load
averages of 10-20 the p95 of both trees rises to several hundred ms.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

TREE = os.environ.get("GT_BENCH_TREE") or str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, TREE)  # this checkout's gastown (and its fake daemon), or the baseline's
ROUNDS = 3

from tests.test_tui import column, filled, ids, loaded, town  # noqa: E402  (the fake daemon)

from gastown.tui.app import GastownApp, make_app  # noqa: E402
from gastown.tui.state import STATUSES  # noqa: E402
from gastown.tui.widgets.bead_list import BeadList  # noqa: E402


async def until(pred: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


async def painted(app: GastownApp, pred: Callable[[], Any], timeout: float = 10.0) -> float:
    """Until `pred` holds, then until the screen has been refreshed: the time of that paint."""
    await until(pred, timeout)
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: done.set_result(time.perf_counter()))
    return await done


async def board_open(runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        app = make_app(town(10_000))
        async with app.run_test(size=(160, 50)):
            await until(lambda: loaded(app))
            gc.collect()
            gc.freeze()  # the fake daemon's beads live in this process: keep their GC out of the timing
            try:
                start = time.perf_counter()
                app.simulate_key("b")
                out.append(await painted(app, lambda: filled(app)) - start)
            finally:
                gc.unfreeze()
    return out


def stamp_actions() -> list[float]:
    """When the key's action ran (down: the column's cursor moved, or stayed at the end of its
    column; right: the next column focused): the handled time, whatever the column held."""
    from gastown.tui.screens.board import BoardScreen

    stamps: list[float] = []
    cursor, column = BeadList.action_cursor, BoardScreen.action_column

    def action_cursor(self: BeadList, delta: int) -> None:
        cursor(self, delta)
        stamps.append(time.perf_counter())

    def action_column(self: BoardScreen, delta: int) -> None:
        column(self, delta)
        stamps.append(time.perf_counter())
    BeadList.action_cursor = action_cursor  # type: ignore[method-assign]
    BoardScreen.action_column = action_column  # type: ignore[method-assign]
    return stamps


async def keys_under_flood(rate: int = 1000, presses: int = 100) -> dict[str, Any]:
    fake = town(2_000)
    app = make_app(fake, start="board")
    async with app.run_test(size=(160, 50)) as pilot:
        await until(lambda: loaded(app) and ids(app, "open"))
        beads = [f"gt-{i:05d}" for i in range(2000)]
        cycle = STATUSES[1:] + STATUSES[:1]
        stop, sent = threading.Event(), [0]

        def produce() -> None:  # `rate` status changes a second, released every 10 ms
            t0 = time.monotonic()
            while not stop.is_set():
                due = int((time.monotonic() - t0) * rate)
                while sent[0] < due:
                    fake.move(beads[(sent[0] * 7) % len(beads)], cycle[sent[0] % 5])
                    sent[0] += 1
                time.sleep(0.01)

        producer = threading.Thread(target=produce, daemon=True)
        acted = stamp_actions()
        column(app, "open").focus()
        await pilot.pause(0.1)
        gc.freeze()
        handled: list[float] = []
        shown: list[float] = []
        t_start, cpu_start = time.monotonic(), time.thread_time()
        producer.start()
        try:
            for i in range(presses):
                done = len(acted)
                t = time.perf_counter()
                app.simulate_key("down" if i % 4 else "right")
                await until(lambda: len(acted) > done, 10)
                handled.append(acted[-1] - t)
                shown.append(await painted(app, lambda: True) - t)
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            producer.join()
            gc.unfreeze()
        wall = time.monotonic() - t_start
        return {"handled": handled, "painted": shown, "rate": sent[0] / wall,
                "ui_share": (time.thread_time() - cpu_start) / wall}


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000


def measure() -> dict[str, Any]:
    opens = asyncio.run(board_open())
    keys = asyncio.run(keys_under_flood())
    return {"opens": opens, **keys}


def report(label: str, runs: list[dict[str, Any]]) -> None:
    opens = [x for r in runs for x in r["opens"]]
    handled = [x for r in runs for x in r["handled"]]
    shown = [x for r in runs for x in r["painted"]]
    rate = statistics.median(r["rate"] for r in runs)
    share = statistics.median(r["ui_share"] for r in runs)
    print(f"{label}board of 10,000 beads, key to painted columns: median {statistics.median(opens) * 1000:.0f} ms, "
          f"max {max(opens) * 1000:.0f} ms over {len(opens)} runs (target < 1000 ms)")
    print(f"{label}keypress under {rate:.0f} events/s, key to action run: median {pct(handled, 0.5):.0f} ms, "
          f"p95 {pct(handled, 0.95):.0f} ms, worst {max(handled) * 1000:.0f} ms over {len(handled)} keys; "
          f"key to painted: median {pct(shown, 0.5):.0f} ms, p95 {pct(shown, 0.95):.0f} ms, "
          f"worst {max(shown) * 1000:.0f} ms (target p95 < 100 ms); UI thread busy {share * 100:.0f}% of a core")


def in_process(tree: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--json"], env={**os.environ, "GT_BENCH_TREE": tree},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: the run for {tree} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if "--json" in sys.argv:
        print(json.dumps(measure()))
        return
    load = os.getloadavg()[0]
    if "--baseline" in sys.argv:
        baseline = sys.argv[sys.argv.index("--baseline") + 1]
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for _ in range(ROUNDS):
            ours.append(in_process(TREE))
            theirs.append(in_process(baseline))
        print(f"{ROUNDS} rounds each, alternating; load average {load:.2f} at the start, "
              f"{os.getloadavg()[0]:.2f} at the end")
        report("this tree: ", ours)
        report(f"{baseline}: ", theirs)
    else:
        report("", [measure()])
        print(f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    if "--skip-archive" not in sys.argv:
        from bench_tui_archive import archived_first_paint

        archived_first_paint()


if __name__ == "__main__":
    main()
