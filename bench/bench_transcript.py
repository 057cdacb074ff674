"""Transcripts: rendering a 10,000-event turn with `gt agent logs` (whole process, against a
real daemon), and parsing throughput (events per second) of every adapter on its recorded
stream repeated.

Target (issue 15): `gt agent logs` on a 10,000-event turn, median under 300 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _util import VENV_BIN, daemon_home, median_ms, timed, wait_until

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "transcripts"
EVENTS = 10_000
N = 15


def big_transcript() -> list[dict[str, object]]:
    """10,000 events shaped like a real turn: the recorded claude turn's events repeated."""
    from gastown.daemon import adapters

    unit = [e.to_dict() for e in adapters.get("claude").transcript((FIXTURES / "claude.log").read_text())]
    out: list[dict[str, object]] = []
    i = 0
    while len(out) < EVENTS - 1:
        for e in unit:
            out.append({**e, "id": f"{e['id']}-{i}"} if e.get("id") else e)
        i += 1
    out = out[:EVENTS - 1]
    out.append({"kind": "end", "exit": 0, "reason": "exited", "tokens_in": 123456, "tokens_out": 789})
    return out


def render_logs() -> None:
    with daemon_home():
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("rig.add", name="app", source=str(make_repo()))
            c.call("work.sling", title="one turn", rig="app", script=["true"])
        agent = wait_until(lambda: _ended("toast"), 60, "the scripted turn to end")
        turn = Path(str(agent["turn_dir"]))  # type: ignore[index]
        gt = str(VENV_BIN / "gt")
        small = timed(lambda: subprocess.run([gt, "agent", "logs", "toast"], check=True, stdout=subprocess.DEVNULL), N)
        (turn / "transcript.jsonl").write_text("".join(json.dumps(e) + "\n" for e in big_transcript()))
        lines = subprocess.run([gt, "agent", "logs", "toast"], capture_output=True, text=True, check=True).stdout
        bare, logs, as_json = [], [], []
        for _ in range(N):  # interleaved, so load on the machine hits all three alike
            bare += timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 1)
            logs += timed(lambda: subprocess.run([gt, "agent", "logs", "toast"], check=True,
                                                 stdout=subprocess.DEVNULL), 1)
            as_json += timed(lambda: subprocess.run([gt, "agent", "logs", "toast", "--json"], check=True,
                                                    stdout=subprocess.DEVNULL), 1)
    from gastown import transcript as tr

    events = tr.from_dicts(big_transcript())
    render = timed(lambda: sum(1 for _ in tr.render(events)), N)
    b, r, j, inproc = median_ms(bare), median_ms(logs), median_ms(as_json), median_ms(render)
    print(f"10,000-event turn: {len(lines.splitlines())} lines rendered")
    print(f"python -c pass              median {b:7.1f} ms  (n={N})")
    print(f"gt agent logs (4 events)    median {median_ms(small):7.1f} ms  (n={N})  the floor: start-up and one call")
    print(f"gt agent logs (10k events)  median {r:7.1f} ms  (n={N})  target < 300 ms  {'OK' if r < 300 else 'MISSED'}")
    print(f"gt agent logs --json        median {j:7.1f} ms  (n={N})")
    print(f"render() in process         median {inproc:7.1f} ms  (n={N})")


def _ended(name: str) -> dict[str, object] | None:
    from gastown.client import Client

    with Client() as c:
        agents = [a for a in c.call("agent.list") if a["name"] == name]
    return agents[0] if agents and agents[0]["turn_ended_at"] else None


def make_repo() -> Path:
    import tempfile

    repo = Path(tempfile.mkdtemp(prefix="gt-bench-repo-"))
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x",
           "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "init"], check=True, env=env)
    return repo


def parse_throughput() -> None:
    from gastown.daemon import adapters

    for cli in ("claude", "codex", "opencode", "kilo", "scripted"):
        raw = (FIXTURES / f"{cli}.log").read_text()
        reps = max(1, 2_000_000 // max(1, len(raw)))  # ~2 MB of output
        text = raw * reps
        adapter = adapters.get(cli)
        n = len(adapter.transcript(text))
        samples = timed(lambda: adapter.transcript(text), 5)
        secs = sorted(samples)[len(samples) // 2]
        print(f"parse {cli:<9} {n:7d} events from {len(text) / 1e6:4.1f} MB  median {secs * 1000:7.1f} ms  "
              f"{n / secs:10,.0f} events/s  {len(text) / secs / 1e6:6.1f} MB/s")


if __name__ == "__main__":
    start = time.monotonic()
    parse_throughput()
    render_logs()
    print(f"(bench took {time.monotonic() - start:.0f} s)")
