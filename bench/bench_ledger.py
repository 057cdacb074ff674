"""`gt costs --by day` and `gt stats` on a town with 100,000 turns (and 20,000 merged beads).

Target (costs issue): median under 200 ms. Prints the RPC alone and the whole `gt` process,
beside the venv's bare interpreter, interleaved in one run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from _util import VENV_BIN, daemon_home, median_ms

TURNS = 100_000
MERGED = 20_000
N = 15


def fill(db: str) -> None:
    import apsw

    rnd = random.Random(7)
    start = datetime.now(timezone.utc) - timedelta(days=90)
    conn = apsw.Connection(db)
    conn.set_busy_timeout(10_000)
    stamp = lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    with conn:
        rows = []
        for i in range(TURNS):
            t = start + timedelta(seconds=i * 77)
            rows.append((stamp(t - timedelta(minutes=5)), stamp(t), stamp(t)[:10], f"agent{i % 20}", "polecat",
                         f"rig{i % 5}", f"bb-{i % MERGED:05d}", None, f"Human {i % 7} <h{i % 7}@x>", "codex",
                         rnd.choice(["gpt-4o", "claude-sonnet-4", "gpt-5-mini"]), None,
                         rnd.randint(1000, 90_000), rnd.randint(100, 4000), rnd.randint(0, 500), 0))
        conn.executemany("INSERT INTO turn_usage(started_at, ended_at, day, agent, role, rig, bead_id, convoy, "
                         "requested_by, adapter, model, persona, tokens_in, tokens_out, tokens_cached, exit_code) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        for i in range(MERGED):
            t = start + timedelta(seconds=i * 380)
            src, mr = f"bb-{i:05d}", f"bb-m{i:05d}"
            for bid, typ in ((src, "issue"), (mr, "merge_request")):
                conn.execute("INSERT INTO beads(id, type, status, title, rig, created_at, updated_at, closed_at) "
                             "VALUES (?, ?, 'closed', 't', 'rig0', ?, ?, ?)",
                             (bid, typ, stamp(t), stamp(t), stamp(t + timedelta(minutes=30))))
            conn.execute("INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha, "
                         "merge_commit) VALUES (?, ?, 'rig0', 'b', 'main', 'h', 'm')", (mr, src))
    conn.close()


def proc(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    os.environ["GT_RUNTIME"] = "local"
    with daemon_home() as home:
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", _town=False)
        t = time.perf_counter()
        fill(str(home / "towns" / "bench" / "town.db"))
        print(f"filled {TURNS:,} turns and {MERGED:,} merged beads in {time.perf_counter() - t:.1f} s")
        gt = str(VENV_BIN / "gt")
        rpc_costs, rpc_stats, cli_costs, cli_stats, bare = [], [], [], [], []
        with Client(town="bench") as c:
            c.call("costs.by", by="day")  # warm the page cache once
            for _ in range(N):
                t = time.perf_counter()
                c.call("costs.by", by="day")
                rpc_costs.append(time.perf_counter() - t)
                t = time.perf_counter()
                c.call("town.stats", since=(datetime.now(timezone.utc) - timedelta(days=30)).isoformat())
                rpc_stats.append(time.perf_counter() - t)
        for _ in range(N):
            bare.append(proc([sys.executable, "-c", "pass"]))
            cli_costs.append(proc([gt, "costs", "--by", "day", "--json", "--town", "bench"]))
            cli_stats.append(proc([gt, "stats", "--since", "30d", "--json", "--town", "bench"]))
    print(f"costs.by day (RPC)       median {median_ms(rpc_costs):7.1f} ms  (n={N})  target < 200 ms")
    print(f"town.stats 30d (RPC)     median {median_ms(rpc_stats):7.1f} ms  (n={N})  target < 200 ms")
    print(f"gt costs --by day        median {median_ms(cli_costs):7.1f} ms  (whole process)")
    print(f"gt stats --since 30d     median {median_ms(cli_stats):7.1f} ms  (whole process)")
    print(f"python -c pass           median {median_ms(bare):7.1f} ms  ({sys.executable})")


if __name__ == "__main__":
    main()
