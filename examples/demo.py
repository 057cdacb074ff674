"""The demo town, end to end, through the real `gt` command line (what `make demo` runs).

It creates a town, turns `examples/sample-rig` into a git repository and adds it as a
rig, creates beads with dependencies, and prints the board and the ready list. State
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
GT = [sys.executable, "-m", "gastown.cli.entry"]


def gt(*args: str, capture: bool = False) -> str:
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
    out = gt("bead", "create", *args, "--json", capture=True)
    obj = json.loads(out)
    print(f"  -> {obj['id']} [{obj['status']}] {obj['title']}")
    return str(obj["id"])


def main() -> int:
    own_home = "GT_HOME" not in os.environ
    home = Path(os.environ.get("GT_HOME") or tempfile.mkdtemp(prefix="gt-demo-"))
    os.environ["GT_HOME"] = str(home)
    os.environ["GT_TOWN"] = "demo"
    print(f"GT_HOME={home}")
    try:
        gt("town", "create", "demo", "--prefix", "dm")
        rig = make_rig(home / "src" / "sample-rig")
        gt("rig", "add", "app", str(rig))
        gt("config", "set", "refinery.gates", '["python3 -m pytest -q"]', "--rig", "app")
        epic = bead("arithmetic: more operators", "--rig", "app", "--priority", "1")
        mul = bead("add mul(a, b)", "--rig", "app", "--parent", epic)
        sub = bead("add sub(a, b)", "--rig", "app", "--parent", epic, "--depends-on", mul)
        bead("document the operators in README", "--rig", "app", "--depends-on", sub, "--priority", "3")
        bead("fix typo in README", "--rig", "app", "--priority", "2")
        print("\n== board ==")
        gt("bead", "list")
        print("\n== ready ==")
        gt("ready")
        print("\n== blocked, and why ==")
        gt("ready", "--explain")
        print("\n== close the first bead: its dependent becomes ready ==")
        gt("bead", "close", mul, "--reason", "demo")
        gt("ready")
        return 0
    finally:
        subprocess.run([*GT, "daemon", "stop"], capture_output=True)
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
