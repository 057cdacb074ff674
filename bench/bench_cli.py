"""`gt` commands as whole processes, beside the venv's bare interpreter, interleaved.

Targets (issue 14): every human command's median within 4x `python -c pass`, and every
command agents call in their tool loop within 1.5x. Samples are interleaved round by round
(bare interpreter, then each command once), so load on the machine hits all of them alike;
the figures are medians of the same run. The town runs on the `local` runtime and is paused,
so `gt sling` only records work and no agent turn competes for the CPU.

Agent tools are timed as an agent calls them (GT_AGENT_TOKEN and GT_AGENT_SOCKET set, so they
take the stdlib fast path) but with a token no turn holds, so the daemon may refuse them
(exit 8): the process still pays everything a real call pays up to the answer (start-up,
imports, connect, hello, a round trip, printing the result or the refusal).

Bytecode: gastown's modules are compiled first (`compileall`, as `pip install` and the town
image do), so both sides run from cached bytecode. Without that, under
PYTHONDONTWRITEBYTECODE=1 an editable tree compiles gastown's modules from source at every
start (~6 ms of an agent's tool call, ~9 ms of a Typer command), a property of the checkout,
not of `gt`. The bare interpreter here is the venv's own: its site hook for the editable
install already imports pathlib, re, enum and friends (about half of `python -c pass`), so
`gt` gets those for free; a plain install has no such hook and a faster bare interpreter.
Each line also gives the CPU-time ratio (the process's user + system time), which moves far
less than the wall clock when other work shares the machine.

Seen (issue 14, 2 cpus shared with other helpers, 31 rounds, GT_BENCH_BEFORE = the tree before
the work, same run; bare interpreter 19.7 ms wall, 18.0 ms CPU; load average 3.5 -> 3.2):
  human commands  2.35-3.19x wall, 2.43-2.91x CPU   (before 3.86-4.75x wall, 3.79-4.92x CPU)
    --help 2.35x (before 4.75x), bead list 3.04x (4.14x), sling --json 3.19x (4.64x)
  agent tools     1.09-1.16x wall, 1.06-1.10x CPU   (before 1.42-1.53x wall, 1.35-1.48x CPU)
  An earlier run at load 4.1: human 2.43-3.81x wall (before 4.08-6.13x), agents 1.24-1.35x
  (before 1.52-1.75x). Without bytecode (GT_BENCH_COMPILE=0, as the issue was first measured;
  load 4.3 rising to 12.3): human 2.27-4.01x wall, 2.67-3.58x CPU (before 4.78-6.15x,
  5.26-6.41x); agent tools 1.24-1.51x wall, 1.40-1.51x CPU (before 1.49-1.90x, 1.77-1.91x).
What remains: `import typer` alone is 2.3x the bare interpreter's CPU (~22 ms); a Typer
command adds ~0.5x (its module, the client, json, one git process for the actor, three round
trips); an agent's tool call ~0.1x (json, gastown's own modules, two round trips of ~0.2 ms).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import VENV_BIN, daemon_home, median_ms

ROUNDS = int(os.environ.get("GT_BENCH_ROUNDS", "25"))
BEFORE = os.environ.get("GT_BENCH_BEFORE")
"""Optional: the source tree of an older gastown (e.g. `git archive REV | tar -x -C DIR`); its
`gt` is timed too, in the same rounds, through the same venv (PYTHONPATH first)."""
COMPILE = os.environ.get("GT_BENCH_COMPILE", "1") != "0"
"""GT_BENCH_COMPILE=0 times the tree as it is: with no __pycache__ and PYTHONDONTWRITEBYTECODE=1
(how issue 14 was first measured) every gastown module is compiled from source on each start."""
HUMAN_TARGET, AGENT_TARGET = 4.0, 1.5


def run(argv: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process: the CPU time (user + system, the process
    alone) barely moves with the machine's load, the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in ok:
        raise SystemExit(f"bench: {' '.join(argv[1:])} exited {res.returncode}: {res.stderr.decode().strip()}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def compile_bytecode(dirs: list[str]) -> None:
    """Write gastown's bytecode (a no-op when it is current), whatever PYTHONDONTWRITEBYTECODE says."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True, stdout=subprocess.DEVNULL)


def make_repo() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="gt-bench-repo-"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "init"], check=True, env=env)
    return repo


def commands(bead: str, mail: str) -> list[tuple[str, str, list[str], dict[str, str] | None, tuple[int, ...]]]:
    """(kind, label, argv, env, accepted exit codes) for every command timed."""
    agent_env = {**os.environ, "GT_AGENT_TOKEN": "bench-no-such-turn", "GT_AGENT_SOCKET": os.environ["GT_BENCH_SOCK"]}
    human: list[tuple[str, list[str]]] = [
        ("--help", ["--help"]),
        ("bead list", ["bead", "list"]),
        ("agent list", ["agent", "list"]),
        ("sling --json", ["sling", "benchmark work", "--json"]),
        ("mq list", ["mq", "list"]),
        ("config get", ["config", "get", "refinery.gates"]),
        ("mail inbox", ["mail", "inbox"]),
        ("bead show", ["bead", "show", bead]),
        ("status", ["status"]),
    ]
    agent: list[tuple[str, list[str]]] = [  # as an agent would call them (GT_AGENT_TOKEN set)
        ("prime", ["prime"]),
        ("done", ["done", "--summary", "x"]),
        ("status MSG", ["status", "running the benchmark"]),
        ("bead show", ["bead", "show", bead]),
        ("mail inbox", ["mail", "inbox"]),
        ("mail read", ["mail", "read", mail]),
        ("escalate", ["escalate", "benchmark escalation", "--severity", "low"]),
    ]
    return ([("human", label, argv, None, (0,)) for label, argv in human]
            + [("agent", f"{label} (agent)", argv, agent_env, (0, 8)) for label, argv in agent])


def main() -> None:
    repo = make_repo()
    with daemon_home():
        from gastown import paths
        from gastown.client import Client

        os.environ["GT_BENCH_SOCK"] = str(paths.socket_path())
        with Client() as c:
            c.call("town.create", name="bench", runtime="local", agent="scripted", _town=False)
            c.call("town.pause", reason="bench: record work, run no turns")
            c.call("rig.add", name="app", source=str(repo), no_gate=True)
            bead = c.call("bead.create", title="benchmark bead")["id"]
            mail = c.call("mail.send", to="human", subject="benchmark mail", body="hello")[0]["id"]
        gt = str(VENV_BIN / "gt")
        cmds = commands(bead, mail)
        if COMPILE:
            compile_bytecode([str(Path(__file__).resolve().parent.parent / "gastown"), *([BEFORE] if BEFORE else [])])
        for _, label, argv, env, ok in cmds:  # one untimed round: file caches warm, bytecode checked
            run([gt, *argv], env=env, ok=ok)
            if BEFORE:
                run([gt, *argv], env={**(env or os.environ), "PYTHONPATH": BEFORE}, ok=ok)
        load_before = os.getloadavg()[0]
        bare: list[tuple[float, float]] = []
        times: dict[str, list[tuple[float, float]]] = {label: [] for _, label, _, _, _ in cmds}
        before: dict[str, list[tuple[float, float]]] = {label: [] for _, label, _, _, _ in cmds}
        for _ in range(ROUNDS):
            bare.append(run([sys.executable, "-c", "pass"]))
            for _, label, argv, env, ok in cmds:
                times[label].append(run([gt, *argv], env=env, ok=ok))
                if BEFORE:
                    before[label].append(run([gt, *argv], env={**(env or os.environ), "PYTHONPATH": BEFORE}, ok=ok))
    load = os.getloadavg()[0]
    b, bc = median_ms([w for w, _ in bare]), median_ms([c for _, c in bare])
    print(f"gt start-up, {ROUNDS} interleaved rounds, load average {load_before:.1f} -> {load:.1f} "
          f"({os.cpu_count()} cpus), gastown bytecode {'compiled' if COMPILE else 'as found'}")
    print(f"{'python -c pass':<22} median {b:7.1f} ms  cpu {bc:5.1f} ms  ({sys.executable})")
    print(f"{'':<25}{'wall':>12} {'ratio':>7}  {'target':>6}     {'cpu ratio':>9}"
          + ("  before: ratio  cpu ratio" if BEFORE else ""))
    worst: dict[str, float] = {}
    for kind, label, _, _, _ in cmds:
        m, mc = median_ms([w for w, _ in times[label]]), median_ms([c for _, c in times[label]])
        target = HUMAN_TARGET if kind == "human" else AGENT_TARGET
        ratio = m / b
        worst[kind] = max(worst.get(kind, 0.0), ratio)
        flag = "ok" if ratio <= target else "OVER"
        was = ""
        if BEFORE:
            was = (f"  before: {median_ms([w for w, _ in before[label]]) / b:5.2f}x"
                   f"  {median_ms([c for _, c in before[label]]) / bc:5.2f}x")
        print(f"gt {label:<22} {m:7.1f} ms  {ratio:5.2f}x  <= {target}x {flag:<4}  {mc / bc:5.2f}x  ({kind}){was}")
    print(f"worst wall ratio: human {worst['human']:.2f}x (target {HUMAN_TARGET}x), "
          f"agent tools {worst['agent']:.2f}x (target {AGENT_TARGET}x)")

if __name__ == "__main__":
    main()
