"""Container town vs local town, same run, medians:

1. sling -> merged with a pytest gate: a scripted polecat adds a module and its test; the
   refinery's gate `python3 -m pytest -q` runs in the town container (pytest installed by the
   rig's `container.setup`) or on the host (the venv's pytest). The first bead of each town is
   a warm-up (container cold start) and is reported apart;
2. a Typer command from inside a turn, each call a fresh process as an agent makes it:
   `gt mail inbox --json` (the polecat's token allows it; `gt bead list` is the Mayor's) in the
   container and in a local turn, and `gt bead list --json` from the host CLI.

Run: `.venv/bin/python bench/bench_container_parity.py [podman|docker] [N]`. The image with the
setup is built before timing (not counted).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gastown import paths  # noqa: E402
from gastown.client import Client  # noqa: E402
from gastown.host import engine, image  # noqa: E402
from gastown.daemon.runtime import townimage  # noqa: E402
from gastown.daemon.runtime.container import ContainerRuntime  # noqa: E402

SETUP = ("apt-get update -q && apt-get install -y -q --no-install-recommends python3-pytest "
         "&& rm -rf /var/lib/apt/lists/*")
GATE = "python3 -m pytest -q -p no:cacheprovider"
TYPER_TIMER = """
import json, os, subprocess, sys, time
out, n = sys.argv[1], int(sys.argv[2])
gt = os.environ.get("GT_BIN", "gt")
times = []
for _ in range(n):
    t = time.perf_counter()
    subprocess.run([gt, "mail", "inbox", "--json"], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
json.dump({"times": times, "host": os.uname().nodename}, open(out, "w"))
"""


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:9.0f} ms" if xs else "        n/a"


def wait(pred: Callable[[], Any], timeout: float = 120.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("benchmark condition not reached")


def make_repo(path: Path) -> Path:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    path.mkdir(parents=True)
    (path / "arith.py").write_text("def add(a, b):\n    return a + b\n")
    (path / "test_arith.py").write_text("import arith\n\n\ndef test_add():\n    assert arith.add(2, 3) == 5\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(path), *cmd], check=True, env=env, capture_output=True)
    return path


def sling_to_merged(c: Client, town: str, i: int) -> float:
    script = [f"printf 'def f{i}():\\n    return {i}\\n' > m{i}.py",
              f"printf 'import m{i}\\n\\n\\ndef test_f{i}():\\n    assert m{i}.f{i}() == {i}\\n' > test_m{i}.py"]
    t0 = time.perf_counter()
    bead = c.call("work.sling", town=town, title=f"m{i}", rig="app", script=script)["id"]
    try:
        status = wait(lambda: (lambda s: s if s in ("closed", "failed") else None)(
            c.call("bead.show", town=town, id=bead)["status"]))
    except TimeoutError:
        b = c.call("bead.show", town=town, id=bead)
        raise RuntimeError(f"{town}: bead m{i} stuck in {b['status']}: {b.get('failure_reason')}; "
                           f"agents {c.call('agent.list', town=town)}") from None
    if status != "closed":
        raise RuntimeError(f"{town}: bead m{i} {status}: {c.call('bead.show', town=town, id=bead)['failure_reason']}")
    return time.perf_counter() - t0


def list_in_turn(c: Client, town: str, n: int) -> list[float]:
    root = paths.town_dir(town)
    (root / "typer_timer.py").write_text(TYPER_TIMER)  # the town dir is mounted in the container
    result = root / "typer_times.json"
    bead = c.call("work.sling", town=town, title="bench typer in a turn", rig="app",
                  script=[f"python3 {root / 'typer_timer.py'} {result} {n}", "echo x > x.txt"])["id"]
    wait(lambda: c.call("bead.show", town=town, id=bead)["status"] in ("in_review", "closed", "failed"))
    if not result.exists():
        raise RuntimeError(f"{town}: the bead list timer did not run")
    return list(json.loads(result.read_text())["times"])


def main(name: str = "podman", n: int = 5) -> None:
    from _util import daemon_home

    home = Path(tempfile.mkdtemp(prefix="gtb-"))
    os.environ.pop("GT_TOWN", None)
    os.environ.pop("GT_RUNTIME_DIR", None)
    towns = {name: f"pc{os.getpid() % 100000}", "local": f"pl{os.getpid() % 100000}"}
    r: dict[str, dict[str, Any]] = {}
    try:
        with daemon_home(home / "d"):
            with Client() as c:
                for runtime, town in towns.items():
                    repo = make_repo(home / "d" / "src" / town)  # each town lands on its own repository
                    c.call("town.create", name=town, runtime=runtime, _town=False)
                    c.call("rig.add", town=town, name="app", source=str(repo))
                    c.call("config.set", town=town, key="refinery.gates", value=json.dumps([GATE]), rig="app")
                    if runtime != "local":
                        c.call("config.set", town=town, key="container.setup", value=json.dumps([SETUP]), rig="app")
                        c.call("config.set", town=town, key="container.network", value="none")
                        t0 = time.perf_counter()
                        built = image.build_image(engine.detect(name), spec=townimage.spec_for_town(paths.town_dir(town)))
                        print(f"{name}: image {built['image']} {'built' if built['built'] else 'cached'} "
                              f"in {time.perf_counter() - t0:.1f} s (not counted)")
                for runtime, town in towns.items():
                    warm = sling_to_merged(c, town, 0)
                    times = [sling_to_merged(c, town, i) for i in range(1, n + 1)]
                    r[runtime] = {"warm": warm, "merged": times, "list": list_in_turn(c, town, 10)}
                host = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "gastown.cli.entry", "bead", "list", "--json", "--town",
                                    towns["local"]], check=True, stdout=subprocess.DEVNULL)
                    host.append(time.perf_counter() - t0)
    finally:
        ContainerRuntime(name, paths.town_dir(towns[name]), town=towns[name]).remove()
        shutil.rmtree(home, ignore_errors=True)
    ct, lo = r[name], r["local"]
    w = 50
    print(f"{'median':<{w}} {name:>12} {'local':>12} {'ratio':>6}")
    mc, ml = statistics.median(ct["merged"]), statistics.median(lo["merged"])
    print(f"{f'sling -> merged, pytest gate (n={n})':<{w}} {ms(ct['merged'])} {ms(lo['merged'])} {mc / ml:6.2f}")
    print(f"{'  first bead (cold container / cold start)':<{w}} {ct['warm'] * 1000:9.0f} ms "
          f"{lo['warm'] * 1000:9.0f} ms")
    lc, ll = statistics.median(ct["list"]), statistics.median(lo["list"])
    print(f"{'gt mail inbox --json in a turn (n=10)':<{w}} {ms(ct['list'])} {ms(lo['list'])} {lc / ll:6.2f}")
    print(f"{'gt bead list --json from the host CLI (n=10)':<{w}} {'':>12} {ms(host)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "podman", int(sys.argv[2]) if len(sys.argv) > 2 else 5)
