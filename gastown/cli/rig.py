"""`gt rig add|list|show|remove`."""

from __future__ import annotations

from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.protocol import Method

app = typer.Typer(help="Connect git repositories (rigs) to a town.", no_args_is_help=True)
COLUMNS = [("name", "RIG"), ("default_branch", "BRANCH"), ("source", "SOURCE")]


def _with_id(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"id": r["name"], **r} for r in rows]


@app.command()
def add(name: str = typer.Argument(..., help="Rig name."),
        source: str = typer.Argument(..., help="Path or URL of a git repository."),
        branch: Optional[str] = typer.Option(None, "--branch", help="Target branch (default: the repo's HEAD)."),
        gate: Optional[str] = typer.Option(None, "--gate", metavar="CMD", envvar="GT_DEFAULT_GATE",
                                           help="Quality gate run before every merge (default: the detected tests; "
                                                "'none' is --no-gate)."),
        no_gate: bool = typer.Option(False, "--no-gate", help="No gate: work merges untested."),
        town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Add a git repository to the town; it is cloned into the town, and its test command
    (pytest, npm test, cargo test, go test, make test) becomes the gate before every merge.

    Example: gt rig add app ~/src/app --gate "make check"
    """
    if gate == "none":
        gate, no_gate = None, True
    rig = call(Method.RIG_ADD, town, name=name, source=source, branch=branch, gate=gate or None,
               no_gate=no_gate or None)
    if as_json:
        emit_json(_with_id([rig]))
    else:
        out.print(f"added rig {rig['name']} ({rig['source']}, branch {rig['default_branch']})", markup=False)
        if "gate_reason" in rig:
            err.print(f"gate {rig['gate'] or '(none)'}: {rig['gate_reason']}", markup=False)


@app.command("list")
def list_(town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List the town's rigs."""
    show_rows(_with_id(call(Method.RIG_LIST, town)), as_json, COLUMNS, empty="no rigs")


@app.command()
def show(name: str = typer.Argument(..., help="Rig name."), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a rig and its bead counts."""
    rig = call(Method.RIG_SHOW, town, name=name)
    if as_json:
        emit_json(_with_id([rig]))
        return
    for key in ("name", "source", "default_branch", "repo_path", "created_at"):
        out.print(f"{key:<15}{rig[key]}", markup=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(rig["beads"].items())) or "none"
    out.print(f"{'beads':<15}{counts}", markup=False)


@app.command()
def remove(name: str = typer.Argument(..., help="Rig name."),
           force: bool = typer.Option(False, "--force", help="Also discard unmerged, unpushed agent work."),
           town: TownOpt = None) -> None:
    """Disconnect a rig; its clone and worktrees are removed. Refused while it has unfinished
    beads, or agent work that exists nowhere else (uncommitted files, unpushed branches)."""
    rig = call(Method.RIG_REMOVE, town, name=name, force=force or None)
    if rig["discarded"]:
        err.print(f"discarded: {'; '.join(rig['discarded'])}", markup=False)
    out.print(f"removed rig {rig['name']}", markup=False)
