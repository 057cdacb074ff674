"""How long a timed-out or stopped command takes to come back, beyond its timeout: a git
command (`git.run`, 0.5 s) and a refinery gate (`run_gate` on the host, 1 s), each running a
long `sleep` in a child of a shell, so the whole process group must be killed for the call
to return; a runner turn with a 0.5 s timeout (until its status says exited); `runner.stop`
of a sleeping turn (its SIGTERM ends it well within the 5 s grace: timeout column 0).
Prints the median and worst time of N runs and the overshoot past the timeout. (The tests
check that these calls end the work and leave nothing behind; the times are here.)

Run: `.venv/bin/python bench/bench_timeouts.py [N]`
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gastown import runner  # noqa: E402
from gastown.daemon.runtime.hostgates import run_gate  # noqa: E402
from gastown.daemon.vcs import git as g  # noqa: E402
from gastown.daemon.vcs.gates import Gate  # noqa: E402

GIT_TIMEOUT, GATE_TIMEOUT, TURN_TIMEOUT = 0.5, 1, 0.5


def git_timeout(repo: Path) -> float:
    t0 = time.perf_counter()
    try:
        g.run(["-c", "alias.slow=!sleep 600; true", "slow"], repo, what="git slow", timeout=GIT_TIMEOUT)
    except g.GitError:
        return time.perf_counter() - t0
    raise SystemExit("bench: the git command did not time out")


def gate_timeout(cwd: Path) -> float:
    t0 = time.perf_counter()
    res = run_gate(Gate("slow", "echo started; sleep 600; true", timeout=GATE_TIMEOUT), cwd,
                   {"PATH": os.environ["PATH"]})
    if not res["timed_out"]:
        raise SystemExit("bench: the gate did not time out")
    return time.perf_counter() - t0


def turn_timeout(tmp: Path, i: int) -> float:
    turn = tmp / f"timeout{i}"
    t0 = time.perf_counter()
    runner.spawn_detached(turn, ["sleep", "600"], tmp, timeout=TURN_TIMEOUT)
    while (runner.read_status(turn) or {}).get("state") != "exited":
        if time.perf_counter() - t0 > 30:
            raise SystemExit("bench: the turn did not time out")
        time.sleep(0.005)
    return time.perf_counter() - t0


def turn_stop(tmp: Path, i: int) -> float:
    turn = tmp / f"stop{i}"
    runner.spawn_detached(turn, ["sh", "-c", "sleep 600; echo not-reached"], tmp)
    t0 = time.perf_counter()
    runner.stop(turn)
    return time.perf_counter() - t0


def line(what: str, timeout: float, xs: list[float]) -> str:
    med, worst = statistics.median(xs), max(xs)
    return f"{what:<28} {med * 1000:8.0f} ms {worst * 1000:8.0f} ms {(med - timeout) * 1000:8.0f} ms"


def main(n: int = 5) -> None:
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        gits = [git_timeout(repo) for _ in range(n)]
        gates = [gate_timeout(repo) for _ in range(n)]
        turns = [turn_timeout(repo, i) for i in range(n)]
        stops = [turn_stop(repo, i) for i in range(n)]
    print(f"{'median of ' + str(n):<28} {'median':>11} {'worst':>11} {'past timeout':>11}")
    print(line(f"git.run (timeout {GIT_TIMEOUT:g} s)", GIT_TIMEOUT, gits))
    print(line(f"gate on host (timeout {GATE_TIMEOUT} s)", GATE_TIMEOUT, gates))
    print(line(f"runner turn (timeout {TURN_TIMEOUT:g} s)", TURN_TIMEOUT, turns))
    print(line("runner.stop of a sleep", 0, stops))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
