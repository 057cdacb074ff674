"""`gt agent list|show|logs|stop|reset`."""

from __future__ import annotations

import sys
import time
from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.protocol import Method

app = typer.Typer(help="Inspect and control agents (polecats, mayor, refinery).", no_args_is_help=True)
ORDER = {"working": 0, "starting": 1, "stalled": 2, "idle": 3, "failed": 4, "quarantined": 5, "stopped": 6}
COLUMNS = [("name", "AGENT"), ("status", "STATUS"), ("role", "ROLE"), ("rig", "RIG"), ("adapter", "ADAPTER"),
           ("hook_bead_id", "HOOK"), ("status_message", "LAST STATUS")]


@app.command("list")
def list_(rig: Optional[str] = typer.Option(None, "--rig"), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List agents, working ones first."""
    rows = sorted(call(Method.AGENT_LIST, town, rig=rig), key=lambda a: (ORDER.get(a["status"], 9), a["name"]))
    show_rows(rows, as_json, COLUMNS, empty="no agents yet")


@app.command()
def show(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show an agent: status, hook, worktree, session and token usage."""
    a = call(Method.AGENT_SHOW, town, name=name)
    if as_json:
        emit_json([a])
        return
    hook = a["hook"]
    for key, value in (("agent", a["name"]), ("status", a["status"]), ("role", a["role"]), ("rig", a["rig"]),
                       ("adapter", a["adapter"]), ("hook", f"{hook['id']} {hook['title']}" if hook else "-"),
                       ("worktree", a["worktree"]), ("branch", a["branch"]), ("session", a["session_id"]),
                       ("turns", a["turns"]), ("tokens", f"{a['tokens_in']} in / {a['tokens_out']} out"),
                       ("status msg", a["status_message"]), ("turn dir", a["turn_dir"])):
        out.print(f"{key:<11}{value if value is not None else '-'}", markup=False)


@app.command()
def logs(name: str = typer.Argument(..., help="Agent name."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing while the turn runs."),
         town: TownOpt = None) -> None:
    """Print the raw output of the agent's current or last turn."""
    res = call(Method.AGENT_LOGS, town, name=name)
    sys.stdout.write(res["data"])
    while follow and res.get("running"):
        time.sleep(0.5)
        res = call(Method.AGENT_LOGS, town, name=name, offset=res["offset"])
        sys.stdout.write(res["data"])
        sys.stdout.flush()


@app.command()
def stop(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None) -> None:
    """Stop the agent's turn; its bead goes back to open and the agent stays stopped."""
    a = call(Method.AGENT_STOP, town, name=name)
    err.print(f"stopped {a['name']}")


@app.command()
def reset(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None) -> None:
    """Stop any turn, unhook the bead (back to open), clear counters, revoke the token."""
    a = call(Method.AGENT_RESET, town, name=name)
    err.print(f"reset {a['name']} (now {a['status']})")
