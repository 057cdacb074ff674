"""The store's hot verbs, one bead's life per cycle (create, dispatch, start, done, merge,
read back), timed on a fresh town on disk: median and p90 per cycle.

With `--baseline DIR` (another checkout of the repository, e.g. `git archive <commit> | tar -x
-C DIR`) the same cycles also run against that checkout's store in a child process, in
alternating rounds (a shared machine's load hits both alike), and the ratios of the medians
are printed, wall clock and CPU time (the process alone, which barely moves with the load):
the store package composed of noun functions should cost what the class tower it replaced
cost.

Run: .venv/bin/python bench/bench_store.py [--cycles N] [--rounds R] [--baseline DIR]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _store_class() -> Any:
    try:
        from gastown.daemon.store import Store
        return Store
    except ImportError:  # a checkout from before the store package
        from gastown.daemon.molecules import MoleculeStore  # type: ignore[import-not-found]
        return MoleculeStore


def cycles(n: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per cycle, for `n` cycles after a warm-up of 20."""
    store = _store_class()(Path(tempfile.mkdtemp(prefix="gt-bench-store-")) / "town.db", "gt")
    store.rig_add("app", "/src/app", "main", "/x")
    out: list[tuple[float, float]] = []
    for i in range(n + 20):
        t0, c0 = time.perf_counter(), time.process_time()
        bead = store.bead_create(f"bead {i}", rig="app", body="fix it")
        agent, _ = store.dispatch_begin(bead["id"], None if i == 0 else "toast", rig="app", adapter="scripted")
        store.turn_started(agent["name"], turn_dir=f"/t/{i}", token_hash="h", worktree="/w", branch=f"gt/{i}")
        mr = store.agent_done(agent["name"], summary="done", head_sha="abc", branch=f"gt/{i}",
                              target_branch="main", commits=1)
        store.turn_exited(agent["name"], exit_code=0, tokens_in=10, tokens_out=5)
        store.mr_begin(mr["id"])
        store.mr_merged(mr["id"], merge_commit=f"{i:040x}", landed_on="main", gates=[], message="merged")
        store.bead_get(bead["id"])
        store.ready(rig="app")
        if i >= 20:
            out.append((time.perf_counter() - t0, time.process_time() - c0))
    store.close()
    return out


def summary(label: str, times: list[tuple[float, float]]) -> tuple[float, float]:
    wall = sorted(t[0] * 1000 for t in times)
    cpu = sorted(t[1] * 1000 for t in times)
    med, cmed = statistics.median(wall), statistics.median(cpu)
    print(f"{label:<34} median {med:7.3f} ms   p90 {wall[int(len(wall) * 0.9)]:7.3f} ms   "
          f"CPU median {cmed:7.3f} ms   ({len(wall)} cycles)")
    return med, cmed


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    n, rounds = _arg("--cycles", 500), _arg("--rounds", 1)
    if "--child" in sys.argv:  # run in a baseline checkout: print the times as JSON
        print(json.dumps(cycles(n)))
        return
    baseline = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    print(f"one bead's life per cycle (create, dispatch, start, done, exit, merge, read, ready), "
          f"{rounds} x {n} cycles")
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(rounds):
        ours += cycles(n)
        if baseline:
            env = {**os.environ, "PYTHONPATH": str(Path(baseline).resolve())}
            res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--cycles", str(n)],
                                 env=env, capture_output=True, text=True, check=True, cwd=baseline)
            theirs += [tuple(t) for t in json.loads(res.stdout.strip().splitlines()[-1])]  # type: ignore[misc]
    wall, cpu = summary("store package (this checkout)", ours)
    if baseline:
        bwall, bcpu = summary(f"baseline ({baseline})", theirs)
        print(f"ratio this / baseline: wall {wall / bwall:.2f}, CPU {cpu / bcpu:.2f}")


if __name__ == "__main__":
    main()
