"""Dashboard budgets, measured (not asserted in tests): prints numbers.

1. A board of 10,000 beads painted (key `b` to rendered columns): target < 1 s.
2. Keypress latency while 1,000 events/s arrive (key to the moved cursor): target p95 < 100 ms.
3. First paint of the board on a real daemon whose town holds 100,000 archived closed beads
   (plus a live board): target < 1 s.

Run: .venv/bin/python bench/bench_tui.py [--skip-archive]
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


async def keys_under_flood(rate: int = 1000, presses: int = 60) -> tuple[list[float], float]:
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
        column(app, "open").focus()
        await pilot.pause(0.1)
        gc.freeze()
        latencies: list[float] = []
        t_start = time.monotonic()
        producer.start()
        try:
            for i in range(presses):
                col = app.focused
                assert isinstance(col, BeadList)
                before = col.current_id
                t = time.perf_counter()
                app.simulate_key("down" if i % 4 else "right")
                await until(lambda: app.focused is not col or col.current_id != before, 5)
                latencies.append(time.perf_counter() - t)
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            producer.join()
            gc.unfreeze()
        return latencies, sent[0] / (time.monotonic() - t_start)


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000


def main() -> None:
    opens = asyncio.run(board_open())
    print(f"board of 10,000 beads, key to painted columns: median {statistics.median(opens) * 1000:.0f} ms, "
          f"max {max(opens) * 1000:.0f} ms over {len(opens)} runs (target < 1000 ms)")
    lat, rate = asyncio.run(keys_under_flood())
    print(f"keypress under {rate:.0f} events/s: median {pct(lat, 0.5):.0f} ms, p95 {pct(lat, 0.95):.0f} ms, "
          f"worst {max(lat) * 1000:.0f} ms over {len(lat)} keys (target p95 < 100 ms)")
    if "--skip-archive" not in sys.argv:
        from bench_tui_archive import archived_first_paint

        archived_first_paint()


if __name__ == "__main__":
    main()
