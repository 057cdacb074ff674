"""What re-checking an agent's token on every request costs: `bead.show` round trips on the
agent socket (token re-read from the store before each call) against the same call on the
human socket (no token), one client each, interleaved rounds in the same run.

A real turn supplies the token (a scripted agent sleeping in the sandbox; its token read from
its runner's environment, as the trust tests do). Prints medians of per-round calls/s and
the per-call difference.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _util import daemon_home

ROUNDS = 7
CALLS = 300


def main() -> None:
    from gastown import paths, runner
    from gastown.client import Client

    with daemon_home() as home:
        src = home / "src"
        subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
        subprocess.run(["git", "-C", str(src), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q",
                        "--allow-empty", "-m", "x"], check=True)
        with Client(autostart=False) as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("rig.add", town="bench", name="app", source=str(src))  # method names: gastown.protocol
            bead = c.call("work.sling", town="bench", rig="app", title="hold a turn", script=["sleep 300"])
            deadline = time.monotonic() + 60
            while True:
                agents = [a for a in c.call("agent.list", town="bench") if a.get("turn_dir")]
                st = runner.read_status(Path(agents[0]["turn_dir"])) if agents else None
                if st and st.get("runner_pid"):
                    break
                if time.monotonic() > deadline:
                    sys.exit("bench_token_check: no turn started")
                time.sleep(0.1)
        raw = Path(f"/proc/{st['runner_pid']}/environ").read_bytes().decode()
        token = dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)["GT_AGENT_TOKEN"]
        human = Client(autostart=False)
        agent = Client(paths.runtime_dir() / "towns" / "bench" / "gt.sock", token=token, autostart=False)
        rates: dict[str, list[float]] = {"human socket": [], "agent socket (token checked)": []}
        for _ in range(ROUNDS):
            for label, client, params in (("human socket", human, {"town": "bench"}),
                                          ("agent socket (token checked)", agent, {})):
                start = time.perf_counter()
                for _ in range(CALLS):
                    client.call("bead.show", id=bead["id"], **params)
                rates[label].append(CALLS / (time.perf_counter() - start))
        med = {k: statistics.median(v) for k, v in rates.items()}
        for label, rate in med.items():
            print(f"{label:<30} {rate:8.0f} calls/s  ({1e6 / rate:6.0f} us/call)")
        h, a = med["human socket"], med["agent socket (token checked)"]
        print(f"difference {1e6 / a - 1e6 / h:+.0f} us/call, ratio {h / a:.2f}x")
        print(json.dumps({"rounds": ROUNDS, "calls": CALLS}))


if __name__ == "__main__":
    main()
