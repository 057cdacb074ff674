"""RPC throughput over the socket from 8 concurrent client processes (bead.show and ping).

Target (issue 1): at least 2,000 calls/s.
"""

from __future__ import annotations

import multiprocessing as mp
import time

from _util import daemon_home

CLIENTS = 8
SECONDS = 3.0


def worker(method: str, params: dict, start: float, q: "mp.Queue[int]") -> None:  # type: ignore[type-arg]
    from gastown.client import Client

    with Client(autostart=False) as c:
        while time.time() < start:
            time.sleep(0.001)
        n = 0
        end = start + SECONDS
        while time.time() < end:
            c.call(method, **params)
            n += 1
    q.put(n)


def measure(method: str, params: dict) -> float:  # type: ignore[type-arg]
    q: "mp.Queue[int]" = mp.Queue()
    start = time.time() + 0.5
    procs = [mp.Process(target=worker, args=(method, params, start, q)) for _ in range(CLIENTS)]
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return total / SECONDS


def main() -> None:
    with daemon_home():
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            bead = c.call("bead.create", title="x")["id"]
        ping = measure("system.ping", {"_town": False})
        show = measure("bead.show", {"id": bead})
    print(f"{CLIENTS} clients, {SECONDS:.0f} s each run")
    print(f"system.ping  {ping:8.0f} calls/s")
    print(f"bead.show    {show:8.0f} calls/s   target >= 2000")


if __name__ == "__main__":
    main()
