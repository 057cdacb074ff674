"""`ready` on a town of 20,000 beads with 20,000 dependencies, measured inside the daemon
(the store call on its writer connection) and end to end over the socket.

Target (issue 1): median under 20 ms in the daemon.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from _util import daemon_home, median_ms, timed

BEADS = DEPS = 20_000


def populate(store) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    store.rig_add("app", "/src/app", "main", "/x")
    with store.conn:
        made = [store.bead_create(f"bead {i}", rig="app", priority=rng.randint(0, 4))["id"] for i in range(BEADS)]
    added = 0
    with store.conn:
        while added < DEPS:  # edges only point at older beads: no cycles
            i = rng.randrange(1, BEADS)
            j = rng.randrange(0, i)
            if store.conn.execute("SELECT 1 FROM bead_dependencies WHERE bead_id=? AND depends_on=?",
                                  (made[i], made[j])).get:
                continue
            store.conn.execute("INSERT INTO bead_dependencies VALUES (?, ?, 'blocks', '2026-01-01T00:00:00.000000Z')",
                               (made[i], made[j]))
            added += 1
    with store.conn:  # a realistic mix: a third of the beads are finished
        store.conn.execute("UPDATE beads SET status='closed', closed_at=updated_at WHERE rowid % 3 = 0")


def main() -> None:
    from gastown.daemon.store import Store
    from gastown.daemon.town.towns import Towns

    home = Path(tempfile.mkdtemp(prefix="gt-bench-"))
    os.environ["GT_HOME"] = str(home)
    towns = Towns()
    towns.create("big", runtime="local")
    towns.close_all()
    # the benchmark measures the query, not the scheduler: no polecats for its fake rig
    (home / "towns" / "big" / "config.toml").write_text('runtime = "local"\n[rig]\nmax_polecats = 0\n')
    t0 = time.perf_counter()
    store = Store(home / "towns" / "big" / "town.db", "big")
    populate(store)
    print(f"populated {BEADS} beads + {DEPS} deps in {time.perf_counter() - t0:.1f} s")
    n_ready = len(store.ready(limit=0))
    store_ms = median_ms(timed(lambda: store.ready(limit=100), 50))
    all_ms = median_ms(timed(lambda: store.ready(limit=0), 10))
    explain_ms = median_ms(timed(lambda: store.ready_explain(limit=100), 20))
    store.close()
    with daemon_home(home):
        from gastown.client import Client

        with Client() as c:
            c.call("bead.ready", limit=100)
            rpc_ms = median_ms(timed(lambda: c.call("bead.ready", limit=100), 50))
    shutil.rmtree(home, ignore_errors=True)
    print(f"ready (top 100)        median {store_ms:7.2f} ms in the store    target < 20 ms")
    print(f"ready (top 100)        median {rpc_ms:7.2f} ms over the socket (incl. JSON of 100 beads)")
    print(f"ready (all {n_ready:>5})      median {all_ms:7.2f} ms in the store")
    print(f"ready --explain (100)  median {explain_ms:7.2f} ms in the store")


if __name__ == "__main__":
    main()
