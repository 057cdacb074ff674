"""`gt bead show` as a whole process, beside the venv's bare interpreter, interleaved.

Target (issue 1): median at most 3x `python -c pass`.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _util import VENV_BIN, daemon_home, median_ms

N = 40


def run(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    with daemon_home():
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            bead = c.call("bead.create", title="benchmark bead")["id"]
        gt = str(VENV_BIN / "gt")
        bare, show, typer_list = [], [], []
        for _ in range(N):
            bare.append(run([sys.executable, "-c", "pass"]))
            show.append(run([gt, "bead", "show", bead]))
        for _ in range(10):
            typer_list.append(run([gt, "bead", "list"]))
    b, s, t = median_ms(bare), median_ms(show), median_ms(typer_list)
    print(f"python -c pass        median {b:7.1f} ms  (n={N}, {sys.executable})")
    print(f"gt bead show          median {s:7.1f} ms  (n={N})  ratio {s / b:.2f}x  target <= 3x")
    print(f"gt bead list (typer)  median {t:7.1f} ms  (n=10)  ratio {t / b:.2f}x  (for reference)")


if __name__ == "__main__":
    main()
