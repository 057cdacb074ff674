"""What handing a turn's paths to the agent's own uid costs at turn start (container towns,
daemon as root): `agentuids.prepare_turn` on a real bare clone and worktree of FILES files.

`first` is a fresh town (every entry of the worktree, turn and home directories chowned, the
clone made shareable); `again` is the next turn of the same agent (a walk that changes
nothing); `after checkout` is a turn after the daemon rewrote CHANGED files as root (the
usual case: a rework or a new bead on the same worktree). Prints medians in milliseconds.
Needs root (chown); run: `.venv/bin/python bench/bench_agentuids.py`.
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

from gastown.daemon.runtime import agentuids  # noqa: E402

SAMPLES = 9
FILES = 2000
CHANGED = 50


def town(root: Path) -> tuple[Path, Path, Path, Path]:
    src = root / "src"
    (src / "pkg").mkdir(parents=True)
    for i in range(FILES):
        (src / "pkg" / f"m{i}.py").write_text(f"x = {i}\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    subprocess.run(["git", "-C", str(src), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(src), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"], check=True)
    town_root = root / "towns" / "b"
    clone = town_root / "rigs" / "app" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(clone)], check=True)
    wt = town_root / "worktrees" / "app" / "toast"
    subprocess.run(["git", "-C", str(clone), "worktree", "add", "-q", "-b", "w", str(wt)], check=True)
    turn = town_root / "turns" / "toast" / "0001"
    home = town_root / "agents" / "toast" / "home"
    turn.mkdir(parents=True)
    home.mkdir(parents=True)
    return town_root, wt, turn, home


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench_agentuids: needs root (it chowns)")
    first, again, touched = [], [], []
    for _ in range(SAMPLES):
        with tempfile.TemporaryDirectory() as tmp:
            town_root, wt, turn, home = town(Path(tmp))

            def prep() -> None:
                agentuids.prepare_turn(town_root, "toast", turn_dir=turn, home=home, cwd=wt)

            first.append(timed(prep))
            again.append(timed(prep))
            for i in range(CHANGED):  # the daemon (root) rewrote some files between turns
                path = wt / "pkg" / f"m{i}.py"
                path.unlink()
                path.write_text("y\n")
            touched.append(timed(prep))
    print(f"prepare_turn, worktree of {FILES} files, {SAMPLES} samples (median ms):")
    print(f"  first turn      {statistics.median(first):8.1f}")
    print(f"  again           {statistics.median(again):8.1f}")
    print(f"  after checkout  {statistics.median(touched):8.1f}  ({CHANGED} files rewritten by root)")


if __name__ == "__main__":
    main()
