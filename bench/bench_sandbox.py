"""Turn start latency with and without the bubblewrap sandbox, same run, interleaved.

Each sample starts a real detached turn through the `local` runtime (runner, PTY) whose
command prints the wall clock in nanoseconds as its first act; latency = that clock minus the
clock just before the daemon-side work (building the sandbox argv included). The agent
command is `/bin/sh -c 'date +%s%N'` so the interpreter start of a real CLI does not hide
the difference. The worktree is a real git worktree of a bare clone (the sandbox binds the
clone's objects/refs/logs and its worktree metadata). Prints medians and the difference;
the issue's target is at most +50 ms.
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
from gastown.daemon.town import agentenv  # noqa: E402
from gastown.daemon.runtime import sandbox
from gastown.daemon.runtime import LocalRuntime, TurnSpec  # noqa: E402

SAMPLES = 25


def setup(root: Path) -> tuple[Path, Path, Path]:
    src = root / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    subprocess.run(["git", "-C", str(src), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    clone = root / "towns" / "b" / "rigs" / "app" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(clone)], check=True)
    wt = root / "towns" / "b" / "worktrees" / "app" / "toast"
    subprocess.run(["git", "-C", str(clone), "worktree", "add", "-q", "-b", "w", str(wt)], check=True)
    home = root / "towns" / "b" / "agents" / "toast" / "home"
    home.mkdir(parents=True)
    sock = root / "run" / "towns" / "b"
    sock.mkdir(parents=True)
    return wt, home, sock


def one(rt: LocalRuntime, turn: Path, wt: Path, home: Path, sock: Path, boxed: bool) -> float:
    argv = ["/bin/sh", "-c", "date +%s%N"]
    t0 = time.time_ns()
    if boxed:
        argv = sandbox.turn_argv(argv, worktree=wt, home=home, socket_dir=sock)
    env: dict[str, str | None] = dict(agentenv.build({"HOME": str(home)}))
    rt.start_turn(TurnSpec(turn_dir=turn, argv=argv, cwd=wt, env=env))
    end = time.monotonic() + 30
    while rt.is_running(turn) or not (turn / "output.log").exists():
        if time.monotonic() > end:
            raise SystemExit(f"bench: turn {turn} did not finish")
        time.sleep(0.005)
    st = runner.read_status(turn) or {}
    text = (turn / "output.log").read_text().strip().split()
    if st.get("exit_code") != 0 or not text:
        raise SystemExit(f"bench: turn {turn} failed: {st} {text}")
    return (int(text[-1]) - t0) / 1e6


def main() -> int:
    found = sandbox.probe()
    if not found.ok:
        print(f"bench_sandbox: cannot measure: {found.reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="gt-bench-sb-") as tmp:
        root = Path(tmp)
        os.environ["GT_HOME"] = str(root)
        os.environ.pop("GT_RUNTIME_DIR", None)
        wt, home, sock = setup(root)
        rt = LocalRuntime()
        plain: list[float] = []
        boxed: list[float] = []
        for i in range(SAMPLES):  # interleaved, so load on the machine hits both alike
            plain.append(one(rt, root / "turns" / f"p{i}", wt, home, sock, False))
            boxed.append(one(rt, root / "turns" / f"s{i}", wt, home, sock, True))
    mp, mb = statistics.median(plain), statistics.median(boxed)
    print(f"turn start latency, {SAMPLES} samples each (median ms): unconfined {mp:.1f}  sandboxed {mb:.1f}  "
          f"difference {mb - mp:+.1f} ms  ratio {mb / mp:.2f}x  (target: at most +50 ms)")
    print(f"  unconfined p10/p90 {statistics.quantiles(plain, n=10)[0]:.1f}/{statistics.quantiles(plain, n=10)[-1]:.1f}"
          f"  sandboxed p10/p90 {statistics.quantiles(boxed, n=10)[0]:.1f}/{statistics.quantiles(boxed, n=10)[-1]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
