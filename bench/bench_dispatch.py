"""Dispatch latency (a bead becomes ready -> its agent process is running) and 50
concurrent scripted polecats in one town on the local runtime (daemon CPU and RSS).

Latency is measured from the moment the blocker closes (the dependent becomes ready)
to the runner's recorded child start, median over sequential samples.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

from _util import daemon_home

SAMPLES = 10
POLECATS = 50


def ts(value: str) -> float:
    return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def make_rig(home: Path) -> Path:
    repo = home / "src" / "app"
    repo.mkdir(parents=True)
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x",
           "PATH": "/usr/bin:/bin"}
    (repo / "README.md").write_text("bench\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env)
    return repo


def wait(pred, timeout: float = 300.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise SystemExit(f"bench: condition not reached within {timeout:.0f} s")


def latency(c, home: Path) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(SAMPLES):
        gate = c.call("bead.create", title=f"gate {i}")["id"]
        b = c.call("work.sling", title=f"work {i}", rig="app", depends_on=[gate],
                   script=[f"echo {i} > f{i}.txt"])["id"]
        time.sleep(0.2)
        turns_before = {a["name"]: a["turns"] for a in c.call("agent.list")}
        closed = c.call("bead.close", id=gate)
        t_ready = ts(closed["closed_at"])
        agent = wait(lambda: c.call("bead.show", id=b)["assignee"])
        shown = wait(lambda: (lambda a: a if a["turns"] > turns_before.get(agent, 0) else None)(
            c.call("agent.show", name=agent)))
        status_file = Path(shown["turn_dir"]) / "status.json"
        status = wait(lambda: json.loads(status_file.read_text()) if status_file.exists() else None)
        out.append(ts(status["started_at"]) - t_ready)
        wait(lambda: c.call("bead.show", id=b)["status"] in ("in_review", "closed"))
        wait(lambda: all(a["turn_ended_at"] for a in c.call("agent.list")))
    return out


def swarm(c, daemon_pid: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    proc = psutil.Process(daemon_pid)
    cpu0 = proc.cpu_times()
    rss_max = [proc.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss_max[0] = max(rss_max[0], proc.memory_info().rss)
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    c.call("config.set", key="rig.max_polecats", value=str(POLECATS))
    t0 = time.monotonic()
    ids = [c.call("work.sling", title=f"swarm {i}", rig="app", script=["sleep 1", f"echo {i} > s{i}.txt"])["id"]
           for i in range(POLECATS)]
    # each bead reaches review and may merge (closed) before the others do: count both
    wait(lambda: sum(c.call("bead.show", id=i)["status"] in ("in_review", "closed") for i in ids) == POLECATS, 600)
    wall = time.monotonic() - t0
    stop.set()
    cpu1 = proc.cpu_times()
    agents = c.call("agent.list")
    return {"wall_s": wall, "daemon_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
            "daemon_rss_mb": rss_max[0] / 2**20, "polecats": len(agents)}


def main() -> None:
    with daemon_home() as home:
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("rig.add", name="app", source=str(make_rig(home)))
            c.call("config.set", key="rig.max_polecats", value="2")
            lat = latency(c, home)
            stats = swarm(c, c.server["pid"])
    lat.sort()
    print(f"dispatch latency (ready -> agent process running): median {lat[len(lat) // 2] * 1000:.0f} ms, "
          f"min {lat[0] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms (n={SAMPLES})")
    print(f"{POLECATS} concurrent scripted polecats: all in review (or merged) after {stats['wall_s']:.1f} s; "
          f"daemon CPU {stats['daemon_cpu_s']:.1f} s, peak RSS {stats['daemon_rss_mb']:.0f} MB, "
          f"{stats['polecats']} polecats")


if __name__ == "__main__":
    main()
