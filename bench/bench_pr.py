"""The pr strategy on one rig: 20 beads, scripted polecats, a trivial gate, a bare origin and
the fake forge (GitHub REST over HTTP). Prints the time until all 20 pull requests are open,
the median time from `gt done` (the MR exists) to its PR being open, and the most PRs that were
open at once (the lane frees when a PR opens, so PRs pile up instead of waiting on each other)."""

from __future__ import annotations

import statistics
import subprocess

from _util import daemon_home
from bench_dispatch import make_rig, ts, wait

from gastown.fakeforge import FakeForge

BEADS = 20


def main() -> None:
    with daemon_home() as home:
        from gastown.client import Client

        remote = home / "remote.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(make_rig(home)), str(remote)], check=True)
        with FakeForge(git_dir=remote, token="bench") as fake, Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("rig.add", name="app", source=str(remote))
            for key, value in (("refinery.gates", '["true"]'), ("rig.max_polecats", "4"),
                               ("forge.api_url", fake.url), ("forge.repo", "o/app"), ("forge.token", "bench"),
                               ("refinery.pr_poll_seconds", "5"), ("refinery.strategy", "pr")):
                c.call("config.set", key=key, value=value)
            for i in range(BEADS):
                c.call("work.sling", title=f"change {i}", rig="app", script=[f"echo {i} > file{i}.txt"])
            wait(lambda: sum(bool(m["pr_url"]) for m in c.call("mq.list")) == BEADS, 900)
            mrs = c.call("mq.list")
            opened = {}
            for m in mrs:
                events = c.call("bead.events", id=m["id"])
                opened[m["id"]] = ts(next(e["created_at"] for e in events if e["event_type"] == "pr_created"))
            slung = min(ts(b["created_at"]) for b in c.call("bead.list", type="issue"))
            pulls = len(fake.state.pulls)
            still_open = sum(p["state"] == "open" for p in fake.state.pulls.values())
    created = {m["id"]: ts(m["created_at"]) for m in mrs}
    latency = [opened[k] - created[k] for k in opened]
    span = max(opened.values()) - slung
    print(f"{BEADS} beads, pr strategy, trivial gate, one rig with 4 polecats: all {pulls} PRs open "
          f"{span:.1f} s after the first sling ({span / BEADS:.2f} s per PR overall)")
    print(f"gt done -> PR open: median {statistics.median(latency):.2f} s, max {max(latency):.2f} s "
          "(gates run per MR in the rig's lane; the lane frees as each PR opens)")
    print(f"PRs open on the forge at once, none merged: {still_open} (the old pr strategy held the lane until a human "
          "merged each PR, so only 1 would be open)")


if __name__ == "__main__":
    main()
