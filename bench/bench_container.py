"""Town container (podman or docker) beside the local runtime, medians, one run:

1. container cold start: `ensure_container()` from nothing (`run -d --init`), `remove()`, and
   `stop_turn()` of a running `sleep` turn;
2. turn start latency: `start_turn()` until `status.json` has the runner pid (`exec -d` in the
   container vs a local spawn), and the liveness probe;
3. a `gt` tool call from inside a turn: a scripted polecat times `gt prime` (the agent's
   stdlib fast path through the town's agent socket to a real daemon) in a podman town and in
   a local town, each call a fresh process as an agent makes it.

Run: `.venv/bin/python bench/bench_container.py [podman|docker] [N]` (needs the town image:
`gt image build`, or it is built on first use).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gastown.host import engine  # noqa: E402
from gastown.daemon.runtime import LocalRuntime, TurnSpec  # noqa: E402
from gastown.daemon.runtime.container import ContainerRuntime  # noqa: E402

# Runs inside the turn (stdlib only; python3 of the image in a container): N `gt prime` calls.
TOOL_TIMER = """
import json, os, subprocess, sys, time
out, n = sys.argv[1], int(sys.argv[2])
gt = os.environ.get("GT_BIN", "gt")
times = []
for _ in range(n):
    t = time.perf_counter()
    subprocess.run([gt, "prime"], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
json.dump({"times": times, "gt": gt, "host": os.uname().nodename}, open(out, "w"))
"""


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:8.1f} ms" if xs else "       n/a"


def timed(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def runtime_level(name: str, home: Path, n: int) -> dict[str, list[float]]:
    root = home / "towns" / f"bench{os.getpid()}"
    (root / "w").mkdir(parents=True)
    eng = engine.detect(name)
    rt = ContainerRuntime(name, root, network="none", image=engine.ensure_image(eng))
    local = LocalRuntime()
    r: dict[str, list[float]] = {k: [] for k in ("cold", "rm", "start", "lstart", "probe", "lprobe", "eprobe", "stop")}
    try:
        for _ in range(5):
            r["cold"].append(timed(rt.ensure_container))
            r["rm"].append(timed(rt.remove))
        rt.ensure_container()
        for i in range(n):
            d, ld = root / "turns" / f"c{i}", root / "turns" / f"l{i}"
            r["start"].append(timed(lambda: rt.start_turn(TurnSpec(d, ["sleep", "0.5"], root / "w"))))
            r["probe"].append(timed(lambda: rt.is_running(d)))
            r["eprobe"].append(timed(lambda: rt.engine.run("exec", rt.container, "python3", "-c", "pass")))
            r["lstart"].append(timed(lambda: local.start_turn(TurnSpec(ld, ["sleep", "0.5"], root / "w"))))
            r["lprobe"].append(timed(lambda: local.is_running(ld)))
        for i in range(3):  # a turn that ignores nothing: SIGTERM ends it within the grace
            d = root / "turns" / f"s{i}"
            rt.start_turn(TurnSpec(d, ["sleep", "300"], root / "w"))
            r["stop"].append(timed(lambda: rt.stop_turn(d, grace=2.0)))
        time.sleep(1)
    finally:
        rt.remove()
    return r


def make_repo(path: Path) -> Path:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench\n")
    (path / "tool_timer.py").write_text(TOOL_TIMER)  # in every worktree: a sandbox or an agent uid hides the town dir
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(path), *cmd], check=True, env=env, capture_output=True)
    return path


def tool_calls(name: str, home: Path, n: int) -> dict[str, dict[str, Any]]:
    """`gt prime` timed inside a scripted turn, in a container town and in a local town."""
    from _util import daemon_home, wait_until
    from gastown import paths
    from gastown.client import Client

    out: dict[str, dict[str, Any]] = {}
    towns = {name: f"bc{os.getpid() % 100000}", "local": f"bl{os.getpid() % 100000}"}
    with daemon_home(home / "d"):
        repo = make_repo(home / "d" / "src" / "app")
        try:
            with Client() as c:
                for runtime, town in towns.items():
                    c.call("town.create", name=town, runtime=runtime, agent="scripted", _town=False)
                    c.call("rig.add", town=town, name="app", source=str(repo))
                    c.call("config.set", town=town, key="container.network", value="none")
                    t0 = time.perf_counter()
                    bead = c.call("work.sling", town=town, title="bench tool calls", rig="app",
                                  script=[f"python3 tool_timer.py tool_times.json {n}", "echo x > x.txt"])["id"]
                    wait_until(lambda: c.call("bead.show", town=town, id=bead)["status"] in ("in_review", "closed", "failed"),
                               180, f"{bead} to be delivered")
                    wall = time.perf_counter() - t0
                    status = c.call("bead.show", town=town, id=bead)["status"]
                    result = Path(c.call("agent.list", town=town)[0]["worktree"]) / "tool_times.json"
                    if status == "failed" or not result.exists():
                        raise RuntimeError(f"{runtime} bench turn failed ({status})")
                    out[runtime] = {**json.loads(result.read_text()), "wall": wall}
        finally:
            ContainerRuntime(name, paths.town_dir(towns[name]), town=towns[name]).remove()
    return out


def main(name: str = "podman", n: int = 10) -> None:
    home = Path(tempfile.mkdtemp(prefix="gtb-"))
    os.environ["GT_HOME"] = str(home)
    os.environ.pop("GT_TOWN", None)
    os.environ.pop("GT_RUNTIME_DIR", None)
    eng = engine.detect(name)
    t0 = time.perf_counter()
    built = engine.build_image(eng)
    print(f"{name}: town image {built['image']} ({'built' if built['built'] else 'cached'} "
          f"in {time.perf_counter() - t0:.1f} s)")
    try:
        r = runtime_level(name, home, n)
        tools = tool_calls(name, home, n)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    c, lo = tools[name], tools["local"]
    w = 44
    print(f"{'median of ' + str(n):<{w}} {name:>11} {'local':>11}")
    print(f"{'container cold start (run -d --init)':<{w}} {ms(r['cold'])} {'(none)':>11}")
    print(f"{'container remove (rm -f)':<{w}} {ms(r['rm'])} {'(none)':>11}")
    print(f"{'stop_turn of a sleep turn (grace 2 s; 3 runs)':<{w}} {ms(r['stop'])} {'':>11}")
    print(f"{'turn start (until status.json has the pid)':<{w}} {ms(r['start'])} {ms(r['lstart'])}")
    print(f"{'is_running (procfs probe)':<{w}} {ms(r['probe'])} {ms(r['lprobe'])}")
    print(f"{'  exec python3 -c pass (fallback probe)':<{w}} {ms(r['eprobe'])} {'':>11}")
    print(f"{'gt prime from inside a turn (agent socket)':<{w}} {ms(c['times'])} {ms(lo['times'])}")
    print(f"{'  sling -> in review, whole bead (1 sample)':<{w}} {c['wall'] * 1000:8.0f} ms "
          f"{lo['wall'] * 1000:8.0f} ms")
    print(f"(in-turn gt: {c['gt']} on {c['host']} / {lo['gt']} on {lo['host']})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "podman", int(sys.argv[2]) if len(sys.argv) > 2 else 10)
