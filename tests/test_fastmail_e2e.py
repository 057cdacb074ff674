"""An agent's `gt mail inbox|read` take the stdlib fast path (gastown.cli.fastmail) and print
byte for byte what the Typer commands print, errors and exit codes included."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def test_agent_mail_fast_path_prints_what_typer_prints(town: Path, tmp_path: Path) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    out = "out"  # in the agent's worktree: the turn's sandbox writes nowhere else; it lands with the bead
    typer = shlex.quote(sys.executable) + " -c 'import sys; sys.argv[0] = \"gt\"; from gastown.cli.app import run; run()'"

    def both(name: str, args: str) -> str:
        """The fast path, then Typer, each into its own file with its exit status."""
        return (f"gt {args} > {out}/{name}.fast 2>&1; echo \"exit $?\" >> {out}/{name}.fast; "
                f"{typer} {args} > {out}/{name}.typer 2>&1; echo \"exit $?\" >> {out}/{name}.typer")

    first_id = f"$({shlex.quote(sys.executable)} -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[\"id\"])' out/in.json)"
    steps = [
        f"mkdir -p {out}",
        both("empty", "mail inbox"),
        f"gt mail send \"$GT_AGENT\" 'a note: to myself' -m 'hello [there]' 2> {out}/send.err",
        f"for i in $(seq 150); do gt mail inbox --json > {out}/in.json; [ -s {out}/in.json ] && break; sleep 0.2; done",
        both("table", "mail inbox"),
        both("json", "mail inbox --json --unread"),
        f"gt mail read {first_id} > /dev/null",  # marked read: both reads below see the same message
        both("read", f"mail read {first_id}"),
        both("readjson", f"mail read --json {first_id}"),
        both("missing", "mail read gt-nosuch"),
        both("help", "mail inbox --help"),
    ]
    argv = ["sling", "mailer", "--rig", "app"]
    for step in steps:
        argv += ["--script", step]
    b = gtj(*argv)[0]
    wait_for(lambda: bead(b["id"])["status"] == "closed", 120, "the agent's mail steps to land")

    def landed(name: str) -> str:
        return subprocess.run(["git", "-C", str(town), "show", f"main:out/{name}"], capture_output=True,
                              text=True, check=True).stdout

    for name in ("empty", "table", "json", "read", "readjson", "missing", "help"):
        assert landed(f"{name}.fast") == landed(f"{name}.typer"), name
    assert "(no mail)" in landed("empty.fast")
    assert "a note: to myself" in landed("table.fast") and "hello [there]" in landed("read.fast")
    assert landed("missing.fast").splitlines()[-1] not in ("exit 0", "")
