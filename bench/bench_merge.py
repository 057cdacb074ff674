"""Merge queue throughput on the local runtime with scripted agents and a trivial gate:
merges per minute, and the time from `gt done` (the MR is created) to merged (median)."""

from __future__ import annotations

import statistics

from _util import daemon_home
from bench_dispatch import make_rig, ts, wait

BEADS = 20


def main() -> None:
    with daemon_home() as home:
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("rig.add", name="app", source=str(make_rig(home)))
            c.call("config.set", key="refinery.gates", value='["true"]', rig="app")
            c.call("config.set", key="rig.max_polecats", value="4")
            for i in range(BEADS):
                c.call("work.sling", title=f"change {i}", rig="app", script=[f"echo {i} > file{i}.txt"])
            wait(lambda: sum(m["status"] == "closed" for m in c.call("mq.list")) == BEADS, 600)
            mrs = [c.call("mq.show", id=m["id"]) for m in c.call("mq.list")]
    created = [ts(m["created_at"]) for m in mrs]
    merged = [ts(m["closed_at"]) for m in mrs]
    latency = [b - a for a, b in zip(created, merged)]
    span = max(merged) - min(created)
    print(f"{BEADS} merge requests, trivial gate, merge mode 'merge': {BEADS / span * 60:.0f} merges/minute "
          f"({span:.1f} s from the first MR to the last merge)")
    print(f"gt done -> merged: median {statistics.median(latency):.2f} s, max {max(latency):.2f} s "
          "(includes waiting in the queue behind earlier MRs)")
    first = sorted(zip(created, latency))[0][1]
    print(f"gt done -> merged with an empty queue (the first MR): {first:.2f} s")


if __name__ == "__main__":
    main()
