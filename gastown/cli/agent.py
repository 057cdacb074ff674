"""`gt agent list|show|logs|stop|reset`."""

from __future__ import annotations

import sys
import time
from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.model import AGENT_ORDER
from gastown.protocol import Method

app = typer.Typer(help="Inspect and control agents (polecats, mayor, refinery).", no_args_is_help=True)
ORDER = {a.value: i for i, a in enumerate(AGENT_ORDER)}
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
         raw: bool = typer.Option(False, "--raw", help="The terminal log as the CLI printed it."),
         turn: Optional[str] = typer.Option(None, "--turn", help="A turn number (default: the current or last)."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """What the agent did in its current or last turn: each command and how it ended
    (`▶ bash  pytest -q  → exit 0`), its words, errors and the turn's tokens.
    `--raw` prints the terminal log instead; `--json` the transcript events."""
    if not raw:
        from gastown.cli.transcript import show_turn
        raise typer.Exit(show_turn(name, turn, town=town, follow=follow, as_json=as_json))
    res = call(Method.AGENT_LOGS, town, name=name)
    sys.stdout.write(res["data"])
    while follow and res.get("running"):
        time.sleep(0.5)
        res = call(Method.AGENT_LOGS, town, name=name, offset=res["offset"])
        sys.stdout.write(res["data"])
        sys.stdout.flush()


@app.command()
def stop(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None) -> None:
    """Stop the agent's turn; the agent stays stopped and its bead is held (work kept on its branch)."""
    a = call(Method.AGENT_STOP, town, name=name)
    held = f"; bead {a['held']} is held (gt bead release {a['held']} hands it on)" if a.get("held") else ""
    out.print(f"stopped {a['name']}{held}", markup=False)


@app.command()
def reset(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None) -> None:
    """Stop any turn, unhook the bead (back to open), clear counters, revoke the token."""
    a = call(Method.AGENT_RESET, town, name=name)
    out.print(f"reset {a['name']} (now {a['status']})", markup=False)


DETACH = b"\x1d"  # Ctrl-]


@app.command()
def attach(name: str = typer.Argument(..., help="Agent name."), town: TownOpt = None) -> None:
    """Attach your terminal to the agent's running turn: see its output live and type into
    it. Ctrl-] detaches (the turn keeps running)."""
    import os
    import select
    import socket
    import termios
    import tty

    from gastown.cli.common import fail
    from gastown.protocol import ErrorCode

    a = call(Method.AGENT_SHOW, town, name=name)
    turn = a.get("turn") or {}
    if turn.get("state") != "running" or not turn.get("attach_socket"):
        fail(f"agent {name} has no running turn to attach to", ErrorCode.INVALID_STATE)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(turn["attach_socket"])
    except OSError as exc:
        fail(f"cannot attach to {name}: {exc.strerror}", ErrorCode.EXTERNAL)
    err.print(f"attached to {name} (Ctrl-] detaches)")
    interactive = sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin.fileno()) if interactive else None
    try:
        if interactive:
            tty.setraw(sys.stdin.fileno())
        stdin_open = True
        while True:
            readers = [sock] + ([sys.stdin] if stdin_open else [])
            ready, _, _ = select.select(readers, [], [])
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if sys.stdin in ready:
                data = os.read(sys.stdin.fileno(), 4096)
                if not data:
                    stdin_open = False
                elif DETACH in data:
                    sock.sendall(data.split(DETACH, 1)[0])
                    break
                else:
                    sock.sendall(data)
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        sock.close()
    err.print(f"\ndetached from {name}")
