"""What the one-line notices cost every `gt` command: `town.notices` (settings checked,
parked landings looked up in each rig's checkout) against `system.ping`, on a town with
1 and 4 local rigs. Prints medians over 200 calls each and the ratio."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _util import daemon_home


def repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "i"],
                   check=True)
    return path


def median_ms(call, n: int = 200) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    from gastown.client import Client
    from gastown.protocol import Method

    with daemon_home() as home, Client(autostart=False, town="bench") as c:
        c.call(Method.TOWN_CREATE, name="bench", agent="scripted", _town=False)
        src = Path(tempfile.mkdtemp(prefix="gt-bench-src-", dir=home))
        for rigs in (1, 4):
            while len(c.call(Method.RIG_LIST)) < rigs:
                n = len(c.call(Method.RIG_LIST))
                c.call(Method.RIG_ADD, name=f"r{n}", source=str(repo(src / f"r{n}")), no_gate=True)
            ping = median_ms(lambda: c.call(Method.PING, _town=False))
            notes = median_ms(lambda: c.call(Method.TOWN_NOTICES))
            print(f"rigs={rigs}: system.ping median {ping:.2f} ms, town.notices median {notes:.2f} ms "
                  f"(ratio {notes / ping:.1f}x)")


if __name__ == "__main__":
    main()
