"""A bead diff view (`gt bead diff`, the dashboard's drawer, convoy sums), side by side in one
run: all-git (the range, the commits and three `git diff` calls: how it was) against the
current path (range and commits read with dulwich, stat + numbers + patch from one git diff).
Prints medians per view and the ratio, and the git processes each spawns.

Run: .venv/bin/python bench/bench_bead_diff.py [rounds]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from gastown.daemon.edge import diffs
from gastown.daemon.vcs import git

HISTORY = 400  # commits on main before the fork (a packed repository of some size)
BRANCH = 12  # the bead's own commits


def sh(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


def make_rig(root: Path) -> dict[str, Any]:
    origin, work, rig = root / "origin", root / "work", root / "rig.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True)
    for k, v in (("user.name", "B"), ("user.email", "b@x")):
        sh(origin, "config", k, v)
    script = "".join(f"echo {i} >> f{i % 40}.txt; git add -A; git commit -qm 'main {i}'\n" for i in range(HISTORY))
    subprocess.run(["sh", "-c", script], cwd=origin, check=True)
    sh(origin, "gc", "-q")
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(rig)], check=True)
    sh(rig, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    sh(rig, "fetch", "-q", "origin")
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    for k, v in (("user.name", "B"), ("user.email", "b@x")):
        sh(work, "config", k, v)
    sh(work, "switch", "-qc", "gt/bench/gt-1")
    for i in range(BRANCH):
        (work / f"f{i}.txt").write_text("".join(f"changed {i} {j}\n" for j in range(30)))
        sh(work, "commit", "-qam", f"bead work {i}\n\nGastown-Bead: gt-1")
    sh(work, "push", "-q", str(rig), "gt/bench/gt-1")
    return {"id": "gt-1", "branch": "gt/bench/gt-1", "target": "main", "repo": str(rig),
            "head": sh(rig, "rev-parse", "gt/bench/gt-1"), "merge_commit": None}


def all_git(where: dict[str, Any], max_bytes: int = 200_000, text: bool = True) -> dict[str, Any]:
    """The view as it was computed before: every read a git process."""
    repo = where["repo"]
    state, base, head, commits_range = diffs._range(where)
    commits = git.log(repo, commits_range, 200)
    stat = git.output(["diff", "--stat", base, head], repo)
    numstat = git.output(["diff", "--numstat", base, head], repo)
    body = git.output(["diff", "--no-color", "--no-ext-diff", base, head], repo) if text else ""
    return {"commits": commits, "stat": stat, **diffs.numbers(numstat), "diff": body[:max_bytes]}


def spawns(fn: Callable[[], Any]) -> int:
    real, count = git.run, [0]

    def counting(*a: Any, **k: Any) -> Any:
        count[0] += 1
        return real(*a, **k)

    git.run = counting  # type: ignore[assignment]
    try:
        fn()
    finally:
        git.run = real  # type: ignore[assignment]
    return count[0]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory(prefix="gt-bench-diff-") as tmp:
        where = make_rig(Path(tmp))
        new, old = diffs.bead_diff(where), all_git(where)
        assert new["commits"] == old["commits"] and new["stat"] == old["stat"] and new["diff"] == old["diff"]
        print(f"repository: {HISTORY} commits on main (packed), the bead {BRANCH} commits; "
              f"{rounds} rounds, interleaved; load average {os.getloadavg()[0]:.2f}")
        for label, text in (("bead diff (commits, stat, patch)", True), ("convoy member (no patch)", False)):
            times: dict[str, list[float]] = {"git": [], "dulwich": []}
            for _ in range(rounds):
                for name, fn in (("git", all_git), ("dulwich", diffs.bead_diff)):
                    t0 = time.perf_counter()
                    fn(where, 200_000, text)
                    times[name].append(time.perf_counter() - t0)
            g, d = statistics.median(times["git"]), statistics.median(times["dulwich"])
            n_old = spawns(lambda: all_git(where, 200_000, text))
            n_new = spawns(lambda: diffs.bead_diff(where, 200_000, text))
            print(f"{label:34} all-git {g * 1000:7.2f} ms ({n_old} git processes)   "
                  f"dulwich {d * 1000:7.2f} ms ({n_new} git process)   {g / d:.2f}x")


if __name__ == "__main__":
    main()
