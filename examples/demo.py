"""The demo town, end to end, through the real `gt` command line (what `make demo` runs).

It creates a town, turns `examples/sample-rig` into a git repository and adds it as a
rig with its pytest suite as the quality gate, and slings three beads to scripted
agents (one depends on another; one fails its gate on the first try and lands after
rework). It waits for the refinery to land everything, then prints the board, the merge
queue and the merged log. State
lives in a temporary GT_HOME unless GT_HOME is set; the daemon it starts is stopped at
the end. Exits non-zero if any step fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GT = [sys.executable, "-m", "gastown.cli.entry"]


def gt(*args: str, capture: bool = False, quiet: bool = False) -> str:
    if not quiet:
        print(f"$ gt {' '.join(args)}", flush=True)
    proc = subprocess.run([*GT, *args], text=True, capture_output=capture)
    if proc.returncode != 0:
        if capture:
            sys.stderr.write(proc.stderr)
        raise SystemExit(f"demo: 'gt {' '.join(args)}' failed with exit status {proc.returncode}")
    return proc.stdout if capture else ""


def make_rig(dest: Path) -> Path:
    """Copy the sample rig and make it a git repository with one commit."""
    shutil.copytree(HERE / "sample-rig", dest)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Demo Human", "GIT_AUTHOR_EMAIL": "human@example.com",
           "GIT_COMMITTER_NAME": "Demo Human", "GIT_COMMITTER_EMAIL": "human@example.com"}
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "sample rig"]):
        subprocess.run(["git", "-C", str(dest), *cmd], check=True, env=env)
    return dest


def bead(*args: str) -> str:
    out = gt(*args, "--json", capture=True)
    obj = json.loads(out)
    print(f"  -> {obj['id']} [{obj['status']}] {obj['title']}")
    return str(obj["id"])


MUL = ("printf '\\ndef mul(a, b):\\n    return a * b\\n' >> arith.py && "
       "printf '\\n\\ndef test_mul():\\n    assert arith.mul(3, 4) == 12\\n' >> tests/test_arith.py")
# The first attempt at sub is wrong and fails the gate; the rework (the agent is told why
# its last attempt failed: GT_PREVIOUS_FAILURE) fixes it.
SUB = ("if [ -n \"$GT_PREVIOUS_FAILURE\" ]; then sed -i 's/return a + b  # sub/return a - b  # sub/' arith.py; "
       "else printf '\\ndef sub(a, b):\\n    return a + b  # sub\\n' >> arith.py && "
       "printf '\\n\\ndef test_sub():\\n    assert arith.sub(5, 3) == 2\\n' >> tests/test_arith.py; fi")
DOCS = "printf '\\nOperators: add, mul, sub.\\n' >> README.md"


def wait_until_settled(ids: list[str], timeout: float = 240.0) -> dict[str, str]:
    """Poll until every bead is closed or failed; print status changes as they happen."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in gt("bead", "list", "--json", capture=True, quiet=True).splitlines():
            b = json.loads(line)
            if b["id"] in ids and seen.get(b["id"]) != b["status"]:
                seen[b["id"]] = b["status"]
                print(f"  {b['id']} -> {b['status']:<11} {b['title']}", flush=True)
        if len(seen) == len(ids) and all(s in ("closed", "failed") for s in seen.values()):
            return seen
        time.sleep(0.5)
    raise SystemExit(f"demo: beads did not settle within {timeout:.0f}s: {seen}")


def main() -> int:
    own_home = "GT_HOME" not in os.environ
    home = Path(os.environ.get("GT_HOME") or tempfile.mkdtemp(prefix="gt-demo-"))
    os.environ["GT_HOME"] = str(home)
    os.environ["GT_TOWN"] = "demo"
    print(f"GT_HOME={home}")
    try:
        gt("town", "create", "demo", "--prefix", "dm", "--runtime", "local", "--agent", "scripted")
        rig = make_rig(home / "src" / "sample-rig")
        gt("rig", "add", "app", str(rig), "--gate", "python3 -m pytest -q")  # what detection proposes too
        print("\n== sling three beads (scripted agents); sub depends on mul ==")
        mul = bead("sling", "add mul(a, b)", "--rig", "app", "--script", MUL)
        sub = bead("sling", "add sub(a, b)", "--rig", "app", "--depends-on", mul, "--script", SUB)
        docs = bead("sling", "document the operators", "--rig", "app", "--script", DOCS)
        print("\n== the town works: polecats, gates, merges, one rework ==")
        final = wait_until_settled([mul, sub, docs])
        print("\n== board ==")
        gt("bead", "list", "--type", "issue")
        print("\n== merge queue ==")
        gt("mq", "list")
        print("\n== merged log of the sample rig ==")
        print(subprocess.run(["git", "-C", str(rig), "log", "--graph", "--format=%h %s  (author %an, committer %cn)"],
                             capture_output=True, text=True, check=True).stdout)
        failed = [b for b, s in final.items() if s != "closed"]
        if failed:
            raise SystemExit(f"demo: beads failed: {failed}")
        return 0
    finally:
        subprocess.run([*GT, "daemon", "stop"], capture_output=True)
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
